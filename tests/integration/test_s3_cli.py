"""The aws CLI from Debian (aws-cli 2.9) against Sluice: `aws s3 cp`, `ls`,
`sync`, `rm --recursive`, and a 64 MiB multipart upload and download
compared by SHA-256."""

import hashlib
import os

from conftest import aws_cli


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_cli_mb_cp_ls_rm(server, tmp_path):
    """mb, cp up and down, ls, rm, rb work as on AWS."""
    ep = server.endpoint
    aws_cli(ep, "s3", "mb", "s3://cli-basic")
    src = tmp_path / "hello.txt"
    src.write_text("hello sluice\n")
    aws_cli(ep, "s3", "cp", str(src), "s3://cli-basic/greetings/hello.txt")
    out = aws_cli(ep, "s3", "ls", "s3://cli-basic/greetings/").stdout
    assert "hello.txt" in out and " 13 " in out
    top = aws_cli(ep, "s3", "ls", "s3://cli-basic/").stdout
    assert "PRE greetings/" in top
    dst = tmp_path / "back.txt"
    aws_cli(ep, "s3", "cp", "s3://cli-basic/greetings/hello.txt", str(dst))
    assert dst.read_text() == "hello sluice\n"
    assert "cli-basic" in aws_cli(ep, "s3", "ls").stdout
    aws_cli(ep, "s3", "rm", "s3://cli-basic/greetings/hello.txt")
    assert aws_cli(ep, "s3", "ls", "s3://cli-basic/", check=False).stdout.strip() == ""
    aws_cli(ep, "s3", "rb", "s3://cli-basic")
    assert "cli-basic" not in aws_cli(ep, "s3", "ls").stdout


def test_cli_sync_and_recursive_rm(server, tmp_path):
    """sync uploads a tree, a second sync uploads only what changed,
    rm --recursive empties the bucket."""
    ep = server.endpoint
    aws_cli(ep, "s3", "mb", "s3://cli-sync")
    tree = tmp_path / "tree"
    for i in range(30):
        p = tree / f"d{i % 3}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n" * (i + 1))
    out = aws_cli(ep, "s3", "sync", str(tree), "s3://cli-sync/tree").stdout
    assert out.count("upload:") == 30
    out = aws_cli(ep, "s3", "sync", str(tree), "s3://cli-sync/tree").stdout
    assert out.count("upload:") == 0
    (tree / "d0" / "f0.txt").write_text("changed, and longer than before\n")
    out = aws_cli(ep, "s3", "sync", str(tree), "s3://cli-sync/tree").stdout
    assert out.count("upload:") == 1
    down = tmp_path / "down"
    aws_cli(ep, "s3", "sync", "s3://cli-sync/tree", str(down))
    for p in tree.rglob("*.txt"):
        assert (down / p.relative_to(tree)).read_bytes() == p.read_bytes()
    listing = aws_cli(ep, "s3", "ls", "--recursive", "s3://cli-sync/").stdout
    assert len(listing.strip().splitlines()) == 30
    out = aws_cli(ep, "s3", "rm", "--recursive", "s3://cli-sync/").stdout
    assert out.count("delete:") == 30
    assert aws_cli(ep, "s3", "ls", "--recursive", "s3://cli-sync/", check=False).stdout.strip() == ""
    aws_cli(ep, "s3", "rb", "s3://cli-sync")


def test_cli_64mib_multipart_roundtrip(server, tmp_path):
    """A 64 MiB file goes up as a multipart upload (the CLI splits at 8 MiB)
    and comes back byte for byte; the ETag has the -N multipart form."""
    ep = server.endpoint
    aws_cli(ep, "s3", "mb", "s3://cli-big")
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    aws_cli(ep, "s3", "cp", str(src), "s3://cli-big/big.bin")
    head = aws_cli(ep, "s3api", "head-object", "--bucket", "cli-big", "--key", "big.bin").stdout
    assert '"ContentLength": 67108864' in head
    assert '-8\\""' in head  # 64 MiB / 8 MiB parts
    dst = tmp_path / "big.back"
    aws_cli(ep, "s3", "cp", "s3://cli-big/big.bin", str(dst))
    assert sha256_file(dst) == sha256_file(src)


def test_cli_s3api_errors_are_clean(server):
    """An S3 error reaches the CLI as a clean message with S3's code."""
    proc = aws_cli(server.endpoint, "s3api", "get-object", "--bucket", "no-such-bucket-cli",
                   "--key", "k", "/dev/null", check=False)
    assert proc.returncode != 0
    assert "NoSuchBucket" in proc.stderr
    assert "Traceback" not in proc.stderr
