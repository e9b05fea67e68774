"""Chroma as a server (``retrieval.chroma_url``): one process ingests, another answers from the same index.

The server is the one the chromadb package ships (``chroma run``), on loopback. The hashing
embedder stands in for the model: it gives every process the same vectors without loading weights.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bots.runtime.config import ConfigError, parse_config
from brain.knowledge.base import KnowledgeBase
from brain.retrieval.embedders import make_embedder
from brain.retrieval.vector import ChromaServerError

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

# The second process: opens the same collection with its own empty state folder and searches it
# by meaning *before* ingesting anything, then ingests and says how much it had to embed.
READER = """
import json, sys
from pathlib import Path
from brain.knowledge.base import KnowledgeBase
from brain.retrieval.embedders import make_embedder
url, folder, state, collection = sys.argv[1:5]
kb = KnowledgeBase(Path(folder), Path(state), make_embedder("hashing"), chroma_url=url, collection=collection)
before = kb.index.vector.count()
hits = kb.retriever.search("how long does delivery take to Singapore", k=3, mode="dense")
summary = kb.ingest()
print(json.dumps({"before": before, "top": [h.chunk.source for h in hits], "embedded": summary.embedded,
                  "chunks": summary.chunks}))
"""


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("samples"))
    return folder


def test_one_process_ingests_and_another_answers_from_the_same_server(chroma_server, knowledge, tmp_path):
    writer = KnowledgeBase(knowledge, tmp_path / "writer", make_embedder("hashing"), chroma_url=chroma_server.url,
                           collection="shop-a")
    summary = writer.ingest()
    assert summary.embedded == summary.chunks > 10
    done = subprocess.run([sys.executable, "-c", READER, chroma_server.url, str(knowledge), str(tmp_path / "reader"),
                           "shop-a"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == summary.chunks                 # every vector was there before it ingested
    assert any("shipping" in source for source in seen["top"]), seen
    assert seen["embedded"] == 0 and seen["chunks"] == summary.chunks  # nothing embedded twice
    assert not (tmp_path / "reader" / "index" / "chroma").exists()   # and nothing kept locally


def test_two_knowledge_bases_on_one_server_stay_apart(chroma_server, knowledge, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "faq.md").write_text("# Other shop\n\nWe sell only teapots, shipped from Fuzhou.\n")
    shop = KnowledgeBase(knowledge, tmp_path / "a", make_embedder("hashing"), chroma_url=chroma_server.url,
                         collection="shop-b")
    teapots = KnowledgeBase(tmp_path / "other", tmp_path / "b", make_embedder("hashing"),
                            chroma_url=chroma_server.url, collection="teapots")
    shop.ingest()
    teapots.ingest()
    assert teapots.index.vector.count() == 1 and shop.index.vector.count() > 10


def test_an_unreachable_server_names_the_key_and_the_address(tmp_path, knowledge):
    with pytest.raises(ChromaServerError, match=r"Chroma server http://127\.0\.0\.1:9 \(retrieval\.chroma_url\)"):
        KnowledgeBase(knowledge, tmp_path / "s", make_embedder("hashing"), chroma_url="http://127.0.0.1:9")


@pytest.mark.parametrize("value", ["localhost:8000", "ftp://x:1", "http://host:port/path"])
def test_a_malformed_server_url_is_a_config_error_naming_the_key(value):
    with pytest.raises(ConfigError, match="retrieval.chroma_url"):
        parse_config(f"retrieval:\n  chroma_url: '{value}'\n")
