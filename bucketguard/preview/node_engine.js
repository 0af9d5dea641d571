"use strict";
// The engine service (pulumirpc.Engine) a Node.js program is given, run in node in front of bucketguard's.
// It answers debug logs itself, as bucketguard's engine answers them (dropped: the CLI shows them only with
// --debug), and passes every other call (info, warning and error logs, the root resource, any method a
// newer SDK adds) to bucketguard's engine at UPSTREAM, answering the program only once that one has.
//
// Why: with an engine address, @pulumi/pulumi sends three debug logs per resource, one at a time, and the
// program does not exit before the last is answered. A grpc-js server answers them faster than Python's
// gRPC server, and off the process that serves the monitor and runs the analysis (benchmarks/README.md).
//
//     node node_engine.js SDK_DIR UPSTREAM
//
// SDK_DIR is the program's own @pulumi/pulumi, whose grpc-js and generated code are used (nothing is loaded
// from, or written to, anywhere else). Prints "port N" once it listens; exits when its stdin closes.
const path = require("path");

const [sdkDir, upstream] = process.argv.slice(2);
const fromSdk = (request) => require(require.resolve(request, { paths: [sdkDir] }));
const grpc = fromSdk("@grpc/grpc-js");
const enginePb = require(path.join(sdkDir, "proto", "engine_pb.js"));
const engineGrpc = require(path.join(sdkDir, "proto", "engine_grpc_pb.js"));

// The SDK's channel options (runtime/settings.js maxRPCMessageSize), so a message it may send, we accept.
const MAX_MESSAGE = 400 * 1024 * 1024;
const options = { "grpc.max_receive_message_length": MAX_MESSAGE, "grpc.max_send_message_length": MAX_MESSAGE };
const service = engineGrpc.EngineService;
const client = new engineGrpc.EngineClient(upstream, grpc.credentials.createInsecure(), options);

const logAnswer = service.log.responseDeserialize(Buffer.alloc(0)); // google.protobuf.Empty

const handlers = {};
for (const [name, method] of Object.entries(service)) {
    if (method.requestStream || method.responseStream) {
        continue; // none today; the SDK would get UNIMPLEMENTED for one, as from an engine without it
    }
    const forward = (call, callback) => client[name](call.request, (error, response) => callback(error, response));
    handlers[name] = name !== "log" ? forward : (call, callback) => {
        if (call.request.getSeverity() === enginePb.LogSeverity.DEBUG) {
            callback(null, logAnswer);
            return;
        }
        forward(call, callback);
    };
}

const server = new grpc.Server(options);
server.addService(service, handlers);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
        process.stderr.write(`cannot listen on 127.0.0.1: ${error.message}\n`);
        process.exit(1);
    }
    process.stdout.write(`port ${port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
