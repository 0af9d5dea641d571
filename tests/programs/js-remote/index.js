"use strict";
// Registers the multi-language components named by the config key `components` (a list of
// type:name[:version]) as their generated SDKs do: `remote: true`, the package version as an option,
// inputs from the config key `inputs` (name -> object). The outputs are exported.
const pulumi = require("@pulumi/pulumi");

const config = new pulumi.Config();
const inputs = config.getObject("inputs") || {};

class Remote extends pulumi.ComponentResource {
    constructor(type, name, args, version) {
        super(type, name, { ...args, bucketName: undefined }, { version }, true /*remote*/);
    }
}

for (const entry of config.requireObject("components")) {
    const [pkg, module, kind, name, version] = entry.split(":");
    const component = new Remote(`${pkg}:${module}:${kind}`, name, inputs[name] || {}, version);
    exports[name] = component.bucketName;
}
