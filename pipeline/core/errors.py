"""Error types that the CLI turns into one clear line instead of a traceback."""


class RefineryError(Exception):
    """Base class: a problem the user can fix (the message says how)."""


class ConfigError(RefineryError):
    """Bad YAML, unknown key, wrong type, missing model file — raised at start-up."""


class TaskFailedError(RefineryError):
    """Some map tasks could not finish (an exception, or their worker kept dying); the
    message names their inputs. Rerunning the same command redoes only those."""


class InputError(RefineryError):
    """An input path that does not exist, cannot be read, or has an unknown format."""


class StageFailure(RefineryError):
    """A systemic failure: a stage's backend is broken (missing module, unreadable model) or
    the same exception hit too many documents. The run stops with exit code 3; what was
    written is kept and the run is not marked complete, so a rerun resumes."""


#: object-store error codes (S3's, as botocore reports them) that mean "fix the credentials"
_CREDENTIAL_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                     "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem"}
#: botocore exceptions (no HTTP reply) that mean the same
_CREDENTIAL_ERRORS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                      "NoAuthTokenError", "TokenRetrievalError", "UnauthorizedSSOTokenError"}


def storage_problem(e: BaseException) -> str | None:
    """What the user must do about an object-store error (``e`` or an exception it was
    raised from), or None when it is not one: a missing bucket, missing or refused
    credentials, an endpoint that cannot be reached."""
    chain: list[BaseException] = []
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    codes = {(getattr(x, "response", None) or {}).get("Error", {}).get("Code") for x in chain}
    if "NoSuchBucket" in codes:
        return "the bucket does not exist: create it, or fix the URL"
    if names & _CREDENTIAL_ERRORS:
        return ("no credentials found: set them as for any AWS client (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, or an instance role)")
    if codes & _CREDENTIAL_CODES:
        return ("the object store refused the credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE) and that they may read and write this bucket")
    if "EndpointConnectionError" in names or "ConnectTimeoutError" in names:
        return "cannot reach the object store: check the network and AWS_ENDPOINT_URL"
    return None
