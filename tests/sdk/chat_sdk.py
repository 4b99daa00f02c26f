"""The official OpenAI Python SDK against tenantgate's OpenAI-compatible endpoint.

Run by the Rust test `sdk::the_openai_python_sdk_talks_to_the_gateway` (tests/it/sdk.rs), which
starts a stand-in upstream and a gateway and passes, in the environment:

  TENANTGATE_URL       the gateway, e.g. http://127.0.0.1:40123 (the SDK gets <url>/v1)
  TENANTGATE_API_KEY   the tenant's JWT or `tg_` API key, given to the SDK as its api_key
  EXPECTED_REPLY       what the stand-in answers
  EXPECTED_MODEL       the model /v1/models lists

Exits non-zero (with a traceback) when anything differs. Never prints the credential.
"""

import os
import sys

import openai


def main() -> None:
    client = openai.OpenAI(
        base_url=os.environ["TENANTGATE_URL"].rstrip("/") + "/v1",
        api_key=os.environ["TENANTGATE_API_KEY"],
        max_retries=0,
        timeout=20,
    )
    expected = os.environ["EXPECTED_REPLY"]
    model = os.environ["EXPECTED_MODEL"]

    listed = [m.id for m in client.models.list()]
    assert model in listed, f"/v1/models lists {listed}, not {model}"

    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello"}],
        temperature=0,
    )
    assert completion.object == "chat.completion", completion
    assert completion.choices[0].message.content == expected, completion
    assert completion.usage is not None and completion.usage.total_tokens > 0, completion

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello, slowly"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    assert len(pieces) > 1, f"expected several chunks, got {pieces}"
    assert "".join(pieces) == expected, pieces
    assert usage is not None and usage.total_tokens > 0, usage

    # A credential the gateway refuses surfaces as the SDK's authentication error.
    bad = openai.OpenAI(base_url=client.base_url, api_key="not-a-valid-token", max_retries=0)
    try:
        bad.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    except openai.AuthenticationError as error:
        assert error.status_code == 401
    else:
        raise AssertionError("an invalid token was accepted")

    print(f"openai {openai.__version__}: models, completion and stream OK ({len(pieces)} chunks)")


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - report any failure to the Rust test
        import traceback

        traceback.print_exc()
        sys.exit(1)
