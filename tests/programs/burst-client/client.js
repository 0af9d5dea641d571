"use strict";
// Registers the stack, then COUNT components at once, as a Node.js program's registrations reach the
// engine: one channel of the SDK's own gRPC client (grpc-js, the SDK's channel options), every call sent
// before the first answer. Prints {"answered": N, "failed": {message: count}}.
const grpc = require("@grpc/grpc-js");
const settings = require("@pulumi/pulumi/runtime/settings");
const resrpc = require("@pulumi/pulumi/proto/resource_grpc_pb");
const resproto = require("@pulumi/pulumi/proto/resource_pb");

const [address, count] = [process.argv[2], Number(process.argv[3])];
const monitor = new resrpc.ResourceMonitorClient(address, grpc.credentials.createInsecure(),
                                                 settings.grpcClientOptions);

function register(type, name, parent) {
    const request = new resproto.RegisterResourceRequest();
    request.setType(type);
    request.setName(name);
    request.setParent(parent);
    return new Promise(resolve => monitor.registerResource(request, (error, response) =>
        resolve(error ? { error: error.message } : { urn: response.getUrn() })));
}

(async () => {
    const stack = await register("pulumi:pulumi:Stack", "burst-test", "");
    const results = await Promise.all(Array.from({ length: count }, (_, i) =>
        register("test:index:Thing", `thing-${i}`, stack.urn)));
    const failed = {};
    for (const r of results.filter(r => r.error)) failed[r.error] = (failed[r.error] || 0) + 1;
    console.log(JSON.stringify({ answered: results.filter(r => r.urn).length, failed }));
    process.exit(0);
})();
