"use strict";
// The program alone under the SDK's mocks (pulumi.runtime.setMocks, preview mode), compiled by ts-node with
// the project's tsconfig.json and type checking, as the run entry compiles it: what a program costs with no
// engine at all. Prints how many resources it registered.
const path = require("path");
require("ts-node").register({ project: path.join(__dirname, "tsconfig.json"), compilerOptions: { sourceMap: true } });
const pulumi = require("@pulumi/pulumi");

let registered = 0;
pulumi.runtime.setMocks({
    newResource: args => { registered++; return { id: undefined, state: args.inputs }; },
    call: args => args.inputs,
}, "bench", "bench", true);
process.on("exit", () => console.log(`registered ${registered}`));
require("./index.ts");
