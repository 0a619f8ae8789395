"""Web: the owner and door pages (web/) in a private S3 bucket behind CloudFront.

CloudFront reads the bucket through an origin access control (the bucket policy admits only
this distribution), serves HTTPS only (HTTP redirects) and adds the security headers of
docs/api.md to every answer: a CSP that allows scripts and styles from the site only, API
calls to the site and the API's origin only, and images from S3 (the photo is a presigned
link); no referrer, since the approval link carries a bearer id in its query string.

The pages are deployed with the stack, next to a `config.json` that tells them the API's
base URL; every deploy invalidates the distribution's cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, CfnElement, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from cdk_app.constants import SITE_CONFIG_FILE, WEB_DIR

HSTS_MAX_AGE = Duration.days(730)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"
DEPLOYMENT_LOG_RETENTION = logs.RetentionDays.TWO_WEEKS

# Viewer request: /owner/ and /owner serve /owner/index.html (S3 behind OAC has no index
# documents). The pages resolve config.json and assets/ as ../, which works from both.
INDEX_PAGES_FUNCTION = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.endsWith('/')) {
    request.uri = uri + 'index.html';
  } else if (uri.split('/').pop().indexOf('.') === -1) {
    request.uri = uri + '/index.html';
  }
  return request;
}
"""

BUCKET_DEPLOYMENT_REASON = (
    "CDK's BucketDeployment provider (a singleton Lambda shared by the stack's deployments), "
    "which copies web/ and config.json into the pages bucket at deploy time and invalidates "
    "the distribution. Its role and runtime are CDK's own; it runs only during deployments."
)


def content_security_policy(api_origin: str) -> str:
    """The pages' CSP (docs/api.md). The local server sends the same one with its own API origin."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' https://*.amazonaws.com",
            f"connect-src 'self' {api_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "manifest-src 'self'",
        ]
    )


class Web(Construct):
    """The pages bucket, the distribution in front of it, and the deployment of web/."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs_bucket: s3.IBucket,
        api_origin: str,
        site_config: Mapping[str, str],
        web_dir: Path = WEB_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Pages",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix="web/",
            # The pages come from the repository at every deploy; a deleted stack leaves the
            # bucket (CloudFormation cannot delete a non-empty one) rather than failing.
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.security_headers = self._security_headers(api_origin)
        self.index_pages = cloudfront.Function(
            self,
            "IndexPages",
            comment="Smart Door: /owner/ and /door/ serve their index.html",
            code=cloudfront.FunctionCode.from_inline(INDEX_PAGES_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Smart Door pages",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(
                    self.bucket, origin_access_levels=[cloudfront.AccessLevel.READ]
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.security_headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self.index_pages, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
        )
        self._acknowledge_distribution_findings()
        # The site's URL and origin (no trailing '/'): https://<id>.cloudfront.net
        self.url = f"https://{self.distribution.distribution_domain_name}"

        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            sources=[
                s3deploy.Source.asset(str(web_dir)),
                s3deploy.Source.json_data(SITE_CONFIG_FILE, dict(site_config)),
            ],
            destination_bucket=self.bucket,
            distribution=self.distribution,
            distribution_paths=["/*"],
            # Browsers revalidate (ETag) on every visit, so a deploy reaches the door tablet at once.
            cache_control=[s3deploy.CacheControl.no_cache()],
            log_group=logs.LogGroup(
                self, "DeployLogs", retention=DEPLOYMENT_LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self._acknowledge_deployment_findings()

    def _security_headers(self, api_origin: str) -> cloudfront.ResponseHeadersPolicy:
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Smart Door pages: CSP, HSTS, no referrer, no framing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(api_origin), override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Permissions-Policy", value=PERMISSIONS_POLICY, override=True
                    ),
                    cloudfront.ResponseCustomHeader(
                        header="Cross-Origin-Opener-Policy", value="same-origin", override=True
                    ),
                ]
            ),
        )

    def _acknowledge_distribution_findings(self) -> None:
        for rule, reason in (
            (
                "CFR1",
                "No geo restriction: the owner opens approval links wherever they are, and visitors' "
                "phones may roam; the pages hold no data, the API behind them checks every request.",
            ),
            (
                "CFR2",
                "No WAF web ACL: the pages are static files with no input; its fixed monthly cost "
                "exceeds a one-household site's whole bill. The API has throttling and validation.",
            ),
            (
                "CFR3",
                "No CloudFront access logs: the site is static pages and holds nothing; what matters "
                "(approvals, codes) is logged by the API. Legacy logging would also need ACLs on the "
                "access-log bucket, which keeps them disabled (BucketOwnerEnforced).",
            ),
            (
                "CFR4",
                "The distribution uses CloudFront's default *.cloudfront.net certificate, whose security "
                "policy CloudFront fixes; a minimum of TLS 1.2 needs a custom domain and ACM certificate. "
                "Viewers are redirected to HTTPS and HSTS is sent.",
            ),
        ):
            Validations.of(self.distribution).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason)
            )

    def _acknowledge_deployment_findings(self) -> None:
        """The provider's Lambda lives at stack level (a singleton); acknowledge on it alone."""
        provider = self.deployment.handler_role.node.scope
        assert isinstance(provider, Construct)
        stack = Stack.of(self)
        pages = self.bucket.node.default_child
        assert isinstance(pages, CfnElement)
        pages_id = stack.resolve(stack.get_logical_id(pages))
        # cdk-nag names the asset bucket as synthesized: pseudo parameters where the CLI left the
        # environment open, literal values where it knows the target account or region.
        partition, account, region = (
            f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value
            for pseudo, value in (
                ("Partition", stack.partition),
                ("AccountId", stack.account),
                ("Region", stack.region),
            )
        )
        for finding in (
            # It reads web/ from the CDK asset bucket and writes (and prunes) the pages bucket.
            f"AwsSolutions-IAM5[Resource::arn:{partition}:s3:::cdk-hnb659fds-assets-{account}-{region}/*]",
            f"AwsSolutions-IAM5[Resource::<{pages_id}.Arn>/*]",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "AwsSolutions-IAM5[Action::s3:GetObject*]",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]",
            "AwsSolutions-IAM5[Action::s3:List*]",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]",
            "AwsSolutions-IAM5[Action::s3:Abort*]",
            "AwsSolutions-IAM5[Resource::*]",
            "AwsSolutions-L1",
        ):
            Validations.of(provider).acknowledge(
                Acknowledgment(id=f"AwsSolutions::{finding}", reason=BUCKET_DEPLOYMENT_REASON)
            )
