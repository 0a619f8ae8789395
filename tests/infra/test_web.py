"""Web: the pages in a private bucket behind CloudFront (origin access control, HTTPS only,
security headers), deployed with a config.json that names the API; and the stack's outputs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk_app.components.web import INDEX_PAGES_FUNCTION
from smartdoor_local.http_server import content_security_policy as local_server_csp
from tests.infra.synth import (
    API_ID,
    DISTRIBUTION_DOMAIN,
    DISTRIBUTION_ID,
    Synthesized,
    deployment_names,
    render,
)

pytestmark = pytest.mark.infra

API_ORIGIN = f"https://{API_ID}.execute-api.eu-west-1.amazonaws.com"


def _distribution(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(synthesized.stack.web.distribution)["DistributionConfig"]


def _security_headers(synthesized: Synthesized) -> dict[str, Any]:
    policy = synthesized.properties(synthesized.stack.web.security_headers)
    return policy["ResponseHeadersPolicyConfig"]


# ------------------------------------------------------------------ the bucket


def test_the_pages_bucket_is_private_encrypted_and_access_logged(synthesized: Synthesized) -> None:
    storage, web = synthesized.stack.storage, synthesized.stack.web
    bucket = synthesized.properties(web.bucket)
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "WebsiteConfiguration" not in bucket  # served by CloudFront only, never as an S3 website
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": synthesized.logical_id(storage.access_logs_bucket)},
        "LogFilePrefix": "web/",
    }


def test_only_this_distribution_may_read_the_pages_and_only_over_tls(synthesized: Synthesized) -> None:
    web = synthesized.stack.web
    bucket = synthesized.logical_id(web.bucket)
    [policy] = [
        resource["Properties"]["PolicyDocument"]
        for resource in synthesized.template.find_resources("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert [(s["Action"], s["Condition"]) for s in denies] == [
        ("s3:*", {"Bool": {"aws:SecureTransport": "false"}})
    ]
    # Origin access control: CloudFront signs as its service principal, scoped to this distribution.
    [allow] = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    source = render(allow["Condition"]["StringEquals"]["AWS:SourceArn"], deployment_names(synthesized))
    assert source == f"arn:aws:cloudfront::111122223333:distribution/{DISTRIBUTION_ID}"


# ------------------------------------------------------------------ the distribution


def test_the_distribution_reads_the_bucket_through_origin_access_control(synthesized: Synthesized) -> None:
    web = synthesized.stack.web
    [origin] = _distribution(synthesized)["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [synthesized.logical_id(web.bucket), "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    oac_id = origin["OriginAccessControlId"]["Fn::GetAtt"][0]
    oac = synthesized.resources[oac_id]
    assert oac["Type"] == "AWS::CloudFront::OriginAccessControl"
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )


def test_viewers_get_https_only_and_can_only_read(synthesized: Synthesized) -> None:
    distribution = _distribution(synthesized)
    behaviors = [distribution["DefaultCacheBehavior"], *distribution.get("CacheBehaviors", [])]
    for behavior in behaviors:
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behavior["AllowedMethods"] == ["GET", "HEAD"]
        assert behavior["ResponseHeadersPolicyId"] == {
            "Ref": synthesized.logical_id(synthesized.stack.web.security_headers)
        }
    assert distribution["DefaultRootObject"] == "index.html"
    assert distribution["Enabled"] is True


def test_page_folders_serve_their_index_through_a_viewer_request_function(synthesized: Synthesized) -> None:
    web = synthesized.stack.web
    [association] = _distribution(synthesized)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association == {
        "EventType": "viewer-request",
        "FunctionARN": {"Fn::GetAtt": [synthesized.logical_id(web.index_pages), "FunctionARN"]},
    }
    function = synthesized.properties(web.index_pages)
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["FunctionCode"] == INDEX_PAGES_FUNCTION
    assert function["AutoPublish"] is True


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (the CDK needs it too)")
def test_the_index_function_rewrites_folders_and_leaves_files_alone() -> None:
    # GIVEN the function's code run as CloudFront runs it: one viewer request at a time
    cases = {
        "/": "/index.html",
        "/owner/": "/owner/index.html",
        "/owner": "/owner/index.html",
        "/door/": "/door/index.html",
        "/config.json": "/config.json",
        "/assets/owner.js": "/assets/owner.js",
        "/assets/app.css": "/assets/app.css",
    }
    harness = (
        INDEX_PAGES_FUNCTION
        + "const uris = JSON.parse(process.argv[1]);\n"
        + "console.log(JSON.stringify(uris.map((uri) => {\n"
        + "  const out = handler({request: {method: 'GET', uri: uri, querystring: {a: {value: 'id'}}}});\n"
        + "  return [out.uri, out.querystring.a.value];\n"
        + "})));\n"
    )
    # WHEN each path is requested
    result = subprocess.run(  # noqa: S603
        ["node", "-e", harness, json.dumps(list(cases))],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # THEN folders get their index.html, files are untouched, the query (?a=<id>) is kept
    rewritten = json.loads(result.stdout.strip().splitlines()[-1])
    assert rewritten == [[expected, "id"] for expected in cases.values()]


def _csp_directives(csp: str) -> dict[str, list[str]]:
    directives = {}
    for directive in csp.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def test_the_csp_allows_only_the_site_s3_photos_and_the_api(synthesized: Synthesized) -> None:
    csp_setting = _security_headers(synthesized)["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp_setting["Override"] is True
    csp = render(csp_setting["ContentSecurityPolicy"], deployment_names(synthesized))
    directives = _csp_directives(csp)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "https://*.amazonaws.com"]  # presigned photo links
    assert directives["connect-src"] == ["'self'", API_ORIGIN]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'none'"]


def test_the_csp_is_the_one_the_local_server_sends(synthesized: Synthesized) -> None:
    # The browser tests run against the local server: its policy must be the deployed one.
    csp_setting = _security_headers(synthesized)["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    csp = render(csp_setting["ContentSecurityPolicy"], deployment_names(synthesized))
    assert csp == local_server_csp(API_ORIGIN)


def test_security_headers_forbid_framing_sniffing_referrers_and_plain_http(synthesized: Synthesized) -> None:
    config = _security_headers(synthesized)
    headers = config["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63072000,
        "IncludeSubdomains": True,
        "Override": True,
    }
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    # The approval link carries a bearer id in its query string: never sent on as a Referer.
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    custom = {item["Header"]: item["Value"] for item in config["CustomHeadersConfig"]["Items"]}
    assert custom == {
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


# ------------------------------------------------------------------ the deployment of web/


def _deployment(synthesized: Synthesized) -> dict[str, Any]:
    [deployment] = synthesized.template.find_resources("Custom::CDKBucketDeployment").values()
    return deployment["Properties"]


def _asset_dir(synthesized: Synthesized, object_key: str) -> Path:
    return synthesized.outdir / f"asset.{object_key.removesuffix('.zip')}"


def test_web_is_deployed_to_the_pages_bucket_and_invalidates_the_distribution(
    synthesized: Synthesized,
) -> None:
    web = synthesized.stack.web
    deployment = _deployment(synthesized)
    assert deployment["DestinationBucketName"] == {"Ref": synthesized.logical_id(web.bucket)}
    assert deployment["DistributionId"] == {"Ref": synthesized.logical_id(web.distribution)}
    assert deployment["DistributionPaths"] == ["/*"]
    assert deployment["Prune"] is True  # a page removed from web/ is removed from the site
    assert deployment["SystemMetadata"] == {"cache-control": "no-cache"}
    pages = _asset_dir(synthesized, deployment["SourceObjectKeys"][0])
    assert {"index.html", "owner/index.html", "door/index.html", "assets/api.js"} <= {
        str(p.relative_to(pages)) for p in pages.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_custom"])
def test_config_json_tells_the_pages_the_api_base_url_and_the_door(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    # GIVEN the second source of the deployment: config.json, with deploy-time markers
    synthesized: Synthesized = request.getfixturevalue(fixture)
    deployment = _deployment(synthesized)
    config_dir = _asset_dir(synthesized, deployment["SourceObjectKeys"][1])
    assert [p.name for p in config_dir.iterdir()] == ["config.json"]
    text = (config_dir / "config.json").read_text()
    # WHEN CloudFormation fills the markers in
    for marker, value in deployment["SourceMarkers"][1].items():
        text = text.replace(marker, render(value, deployment_names(synthesized)))
    # THEN the pages read the API's stage URL without a trailing '/', and the default door
    assert json.loads(text) == {"apiUrl": f"{API_ORIGIN}/v1", "doorId": "front-door"}


def test_the_deployment_provider_logs_with_retention(synthesized: Synthesized) -> None:
    providers = [
        resource["Properties"]
        for logical_id, resource in synthesized.resources.items()
        if resource["Type"] == "AWS::Lambda::Function" and logical_id.startswith("CustomCDKBucketDeployment")
    ]
    [provider] = providers
    log_group = provider["LoggingConfig"]["LogGroup"]["Ref"]
    assert synthesized.resources[log_group]["Properties"]["RetentionInDays"] == 14


# ------------------------------------------------------------------ outputs


CLI_OUTPUTS = {
    "ApiUrl",
    "SiteUrl",
    "OwnerPageUrl",
    "DoorPageUrl",
    "WebBucketName",
    "DistributionId",
    "PhotosBucketName",
    "VisitsTableName",
    "ApprovalsTableName",
    "VisitorsTableName",
    "PasscodesTableName",
    "CollectionId",
    "DoorCameraStreamName",
    "FaceSearchStreamName",
    "EventBusName",
    "AlertsTopicArn",
    "UnknownVisitorStateMachineArn",
    "KnownVisitorStateMachineArn",
}


def test_outputs_name_what_a_person_opens_and_what_the_cli_reads(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    assert set(outputs) >= CLI_OUTPUTS
    # Plain keys, no cross-stack exports (nothing else may come to depend on this stack).
    assert not any("Export" in output for output in outputs.values())
    names = deployment_names(synthesized)
    site = f"https://{DISTRIBUTION_DOMAIN}"
    assert render(outputs["ApiUrl"]["Value"], names) == f"{API_ORIGIN}/v1"
    assert render(outputs["SiteUrl"]["Value"], names) == site
    assert render(outputs["OwnerPageUrl"]["Value"], names) == f"{site}/owner/?a=<approvalId>"
    assert render(outputs["DoorPageUrl"]["Value"], names) == f"{site}/door/?door=front-door"
    stack = synthesized.stack
    for key, construct in (
        ("ApprovalsTableName", stack.storage.approvals_table),
        ("PasscodesTableName", stack.storage.passcodes_table),
        ("WebBucketName", stack.web.bucket),
        ("UnknownVisitorStateMachineArn", stack.unknown_visitor.state_machine),
    ):
        assert outputs[key]["Value"] == {"Ref": synthesized.logical_id(construct)}


def test_outputs_use_the_configured_site_url(synthesized_custom: Synthesized) -> None:
    outputs = synthesized_custom.template_json["Outputs"]
    assert outputs["SiteUrl"]["Value"] == "https://door.example.com"
    assert outputs["OwnerPageUrl"]["Value"] == "https://door.example.com/owner/?a=<approvalId>"


def test_the_rest_api_adds_no_hashed_endpoint_output(synthesized: Synthesized) -> None:
    endpoint_outputs = [
        key for key in synthesized.template_json["Outputs"] if re.match(r"ApiRestApiEndpoint", key)
    ]
    assert endpoint_outputs == []
    synthesized.template.has_output("ApiUrl", Match.object_like({"Description": Match.any_value()}))
