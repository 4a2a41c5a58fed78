"""The official OpenAI Python SDK as a client of the gateway binary, in front of `portcullis mock`."""
import openai
import pytest


def client(gateway):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="unused", max_retries=0, timeout=20)


def test_chat_completion(gateway):
    reply = client(gateway).chat.completions.create(model="demo-chat", messages=[{"role": "user", "content": "Hello"}])
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_chat_with_usage(gateway):
    stream = client(gateway).chat.completions.create(
        model="demo-chat",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.split() == ["Portcullis", "is", "answering", "from"]
    assert usage is not None and usage.completion_tokens == 4


def test_embeddings(gateway):
    reply = client(gateway).embeddings.create(model="demo-embed", input=["one", "two"])
    assert len(reply.data) == 2
    assert reply.usage.prompt_tokens > 0


def test_models_list_and_retrieve(gateway):
    c = client(gateway)
    assert [m.id for m in c.models.list()] == ["demo-chat", "demo-embed"]
    assert c.models.retrieve("demo-chat").id == "demo-chat"


def test_unknown_model_is_a_not_found_error(gateway):
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"
    assert info.value.body["param"] == "model"


def test_backend_errors_pass_through(gateway):
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(
            model="demo-chat", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-status": "500"}
        )
    assert info.value.status_code == 500
    assert info.value.code == "mock_status_500"


def test_raw_response_headers(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="demo-chat", messages=[{"role": "user", "content": "x"}]
    )
    assert float(raw.headers["x-portcullis-overhead-ms"]) >= 0
    assert raw.headers["x-request-id"]


def test_a_backend_dying_mid_stream_is_an_api_error_not_a_hang(gateway):
    # The mock drops the connection after two chunks; the gateway ends the stream with a final
    # OpenAI-shaped error event, which the SDK raises as an APIError after the chunks it got.
    stream = client(gateway).chat.completions.create(
        model="demo-chat", messages=[{"role": "user", "content": "x"}], stream=True, extra_headers={"x-mock-drop-after": "2"}
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    assert "stopped in the middle" in str(info.value)
