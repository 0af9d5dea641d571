"""Lookup results of Node.js programs shaped from their own SDK's declarations (bucketguard/preview/node_shapes.py):
the published @pulumi/aws 6.73 and 7.23 `.d.ts` files (the cached node_modules of the corpus), and the
declaration syntax the SDK code generators emit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT
from node_env import node_modules

from bucketguard.preview import invokes, node_shapes

CORPUS = ROOT / "tests" / "corpus"
GET_ZONE = "aws:route53/getZone:getZone"


def program_with(tmp_path: Path, corpus_program: str) -> Path:
    folder = tmp_path / corpus_program
    folder.mkdir()
    (folder / "node_modules").symlink_to(node_modules(CORPUS / corpus_program), target_is_directory=True)
    return folder


def context() -> object:
    return invokes.load_shapes_module().InvokeContext("eu-west-1", "111122223333")


@pytest.mark.parametrize(("program", "has_recovery"), [("aws-ts-s3-folder", True), ("aws-js-s3-folder", False)])
def test_get_zone_is_shaped_by_the_programs_own_pulumi_aws(tmp_path: Path, program: str, has_recovery: bool) -> None:
    shapes = node_shapes.ResultShapes(program_with(tmp_path, program))
    fields = shapes.result_fields(GET_ZONE)
    assert fields is not None
    names = {f.name for f in fields}
    assert {"zoneId", "nameServers", "tags", "resourceRecordSetCount"} <= names
    assert ("enableAcceleratedRecovery" in names) is has_recovery  # pulumi-aws 7 added it
    result: dict[str, object] = {}
    filled = node_shapes.fill(result, fields, {"name": "example.com"}, GET_ZONE, context(), shapes=shapes)
    assert result["name"] == "example.com" and "name" not in filled  # the argument is echoed
    assert isinstance(result["zoneId"], str) and invokes.PLACEHOLDER_MARKER in result["zoneId"]
    assert result["nameServers"] == ["offline-placeholder-name-servers"] and result["tags"] == {}
    assert result["resourceRecordSetCount"] == 1 and result["arn"] == (
        "arn:aws:route53:eu-west-1:111122223333:getZone/offline-placeholder")
    assert set(filled) == names - {"name"}


def test_nested_result_types_come_from_the_types_output_declarations(tmp_path: Path) -> None:
    shapes = node_shapes.ResultShapes(program_with(tmp_path, "aws-ts-s3-folder"))
    token = "aws:ec2/getVpc:getVpc"
    fields = shapes.result_fields(token)
    assert fields is not None
    result: dict[str, object] = {"cidrBlockAssociations": [{"cidrBlock": "10.1.0.0/16"}]}
    filled = node_shapes.fill(result, fields, {}, token, context(), shapes=shapes)
    # A given nested value keeps what it has and gets the required fields of outputs.ec2.GetVpcCidrBlockAssociation.
    assert result["cidrBlockAssociations"] == [{"cidrBlock": "10.1.0.0/16",
                                                "associationId": "offline-placeholder-association-id",
                                                "state": "offline-placeholder-state"}]
    assert "cidrBlockAssociations.associationId" in filled
    assert result["ownerId"] == "111122223333" and result["cidrBlock"] == "10.0.0.0/16"


def test_a_known_answer_is_kept_and_a_token_without_declarations_is_not_shaped(tmp_path: Path) -> None:
    shapes = node_shapes.ResultShapes(program_with(tmp_path, "aws-ts-s3-folder"))
    token = "aws:index/getRegion:getRegion"
    known = invokes.answer(token, {}, invokes.InvokeContext("eu-west-1"))
    assert known is not None
    result = dict(known)
    fields = shapes.result_fields(token)
    assert fields is not None
    assert node_shapes.fill(result, fields, {}, token, context(), shapes=shapes) == []
    assert result == known
    assert shapes.result_fields("acme:index/getThing:getThing") is None  # no such SDK in node_modules


def test_declaration_syntax_the_generators_emit(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "@acme" / "sdk"
    (package / "storage").mkdir(parents=True)
    (package / "types").mkdir()
    (package / "package.json").write_text(json.dumps({"name": "@acme/sdk", "pulumi": {"name": "acme"}}))
    (package / "storage" / "getLake.d.ts").write_text('''import * as outputs from "../types/output";
export declare function getLake(args: GetLakeArgs): Promise<GetLakeResult>;
export interface GetLakeArgs { name: string; }
/** The result of getLake: { not a type } */
export interface GetLakeResult {
    /** ARN of the lake, e.g. {arn} */
    readonly arn: string;
    readonly "kind": "raw" | "curated";
    readonly size?: number | undefined;
    readonly zones: Array<outputs.storage.deep.Zone>;
    readonly labels: {
        [key: string]: string;
    };
    readonly inline: { owner: string; replicas: number };
    readonly policy: any;
}
''')
    (package / "types" / "output.d.ts").write_text('''import * as outputs from "../types/output";
export declare namespace storage {
    namespace deep {
        interface Zone {
            name: string;
            enabled: boolean;
            parent?: outputs.storage.deep.Zone;
        }
    }
}
''')
    shapes = node_shapes.ResultShapes(tmp_path)
    token = "acme:storage/getLake:getLake"
    fields = shapes.result_fields(token)
    assert fields is not None
    assert [f.name for f in fields] == ["arn", "kind", "size", "zones", "labels", "inline", "policy"]
    result: dict[str, object] = {}
    node_shapes.fill(result, fields, {"name": "lake"}, token, context(), shapes=shapes)
    assert result["kind"] == "raw" and result["size"] == 1 and result["labels"] == {} and result["policy"] == {}
    assert result["inline"] == {"owner": "offline-placeholder-owner", "replicas": 1}
    [zone] = result["zones"]  # type: ignore[misc]
    assert zone["name"] == "offline-placeholder-name" and zone["enabled"] is False
    assert zone["parent"]["name"] == "offline-placeholder-name"  # recursive types end at the depth limit
