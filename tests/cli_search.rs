//! `avfs search`: FTS5 over the vault's text files, updated by every write.

mod common;
use common::*;

fn search(a: &Avfs, q: &str) -> SearchDoc {
    a.json(["search", q])
}

#[test]
fn search_ranks_files_with_snippets_and_follows_every_change() {
    let a = Avfs::with_vault();
    a.ok([
        "write",
        "/a.md",
        "the quick brown fox jumps over the lazy dog",
    ]);
    a.ok([
        "write",
        "-p",
        "/docs/b.md",
        "fox fox fox: a document all about foxes and the fox",
    ]);
    a.ok(["write", "/c.txt", "nothing to see"]);
    let doc = search(&a, "fox");
    assert_eq!(
        doc.paths(),
        ["/docs/b.md", "/a.md"],
        "more occurrences rank first"
    );
    assert_eq!(doc.query, "fox");
    assert!(doc.results[0].score >= doc.results[1].score);
    assert!(
        doc.results[1].snippet.contains("[fox]"),
        "{}",
        doc.results[1].snippet
    );
    assert_eq!(doc.results[1].hash.len(), 64);
    // Overwrite, remove, rename, append: the index follows.
    a.ok(["write", "/a.md", "no animals here"]);
    a.ok(["mv", "/docs/b.md", "/b.md"]);
    assert_eq!(search(&a, "fox").paths(), ["/b.md"]);
    a.ok(["write", "--append", "/c.txt", " but a fox"]);
    assert_eq!(search(&a, "fox").paths(), ["/b.md", "/c.txt"]);
    a.ok(["rm", "/b.md"]);
    assert_eq!(search(&a, "fox").paths(), ["/c.txt"]);
    // Phrases, boolean operators and prefixes are FTS5's.
    assert_eq!(search(&a, "\"no animals\"").paths(), ["/a.md"]);
    assert_eq!(search(&a, "anim*").paths(), ["/a.md"]);
    assert_eq!(search(&a, "nothing AND fox").paths(), ["/c.txt"]);
    assert!(search(&a, "zebra").results.is_empty());
    assert!(a.ok(["search", "animals"]).starts_with("/a.md\n"));
}

#[test]
fn identical_files_share_one_document_and_each_path_is_a_result() {
    let a = Avfs::with_vault();
    a.ok(["write", "/one", "shared words"]);
    a.ok(["cp", "/one", "/two"]);
    a.ok(["vault", "fork", "main", "f"]);
    a.ok(["rm", "/one"]);
    assert_eq!(search(&a, "shared").paths(), ["/two"]);
    let fork: SearchDoc = a.json(["--vault", "f", "search", "shared"]);
    assert_eq!(
        fork.paths(),
        ["/one", "/two"],
        "each vault sees its own files"
    );
    let limited: SearchDoc = a.json(["--vault", "f", "search", "shared", "--limit", "1"]);
    assert_eq!(limited.results.len(), 1);
}

#[test]
fn binary_and_huge_files_are_not_indexed() {
    let a = Avfs::with_vault();
    a.run_stdin(["write", "/bin"], b"needle\0binary");
    a.run_stdin(["write", "/latin1"], b"needle caf\xe9");
    let mut big = b"needle ".repeat(200_000); // 1.4 MB
    big.truncate(1024 * 1024 + 1);
    a.run_stdin(["write", "/big"], &big);
    a.ok(["write", "/small", "needle"]);
    assert_eq!(search(&a, "needle").paths(), ["/small"]);
}

#[test]
fn bad_query_syntax_is_invalid_query() {
    let a = Avfs::with_vault();
    a.ok(["write", "/f", "x"]);
    for q in ["AND AND", "\"unclosed", "(", "", "nosuchcolumn:x"] {
        let (err, status) = a.fails(["search", q]);
        assert_eq!(
            (err.code.as_str(), status),
            ("invalid_query", 2),
            "{q:?}: {}",
            err.message
        );
        assert!(err.hint.is_some());
    }
}
