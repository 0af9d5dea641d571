"""A policy pack that answers each Analyze and AnalyzeStack with one advisory diagnostic whose message
is the whole request as JSON (protobuf's JSON form), so tests see exactly what a pack receives.
It speaks the analyzer protocol directly (no pulumi_policy), the way `pulumi.policy` starts a pack:
bind 127.0.0.1:0, print the port and a newline, serve."""

import json
import sys
from concurrent import futures

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

NAME = "recording"


def _report(policy: str, request: object) -> analyzer_pb2.AnalyzeResponse:
    message = json.dumps(json_format.MessageToDict(request, preserving_proto_field_name=False), sort_keys=True)
    return analyzer_pb2.AnalyzeResponse(diagnostics=[analyzer_pb2.AnalyzeDiagnostic(
        policyName=policy, policyPackName=NAME, policyPackVersion="0.0.1", message=message,
        enforcementLevel=analyzer_pb2.ADVISORY, urn=getattr(request, "urn", ""))])


class Recording(analyzer_pb2_grpc.AnalyzerServicer):
    def Analyze(self, request, context):
        return _report("analyze", request)

    def AnalyzeStack(self, request, context):
        return _report("analyze-stack", request)

    def Remediate(self, request, context):
        return analyzer_pb2.RemediateResponse()

    def GetAnalyzerInfo(self, request, context):
        return analyzer_pb2.AnalyzerInfo(name=NAME, version="0.0.1", policies=[
            analyzer_pb2.PolicyInfo(name=name, description=name, enforcementLevel=analyzer_pb2.ADVISORY)
            for name in ("analyze", "analyze-stack")])

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version="0.0.1")

    def Configure(self, request, context):
        return empty_pb2.Empty()

    def ConfigureStack(self, request, context):
        return analyzer_pb2.AnalyzerStackConfigureResponse()


server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                     options=[("grpc.max_receive_message_length", 400 << 20)])
analyzer_pb2_grpc.add_AnalyzerServicer_to_server(Recording(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
sys.stdout.write(f"{port}\n")
sys.stdout.flush()
server.wait_for_termination()
