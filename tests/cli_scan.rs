//! `avfs grep` and `avfs find`.

mod common;
use common::*;

fn sample() -> Avfs {
    let a = Avfs::with_vault();
    a.ok([
        "write",
        "-p",
        "/src/main.rs",
        "fn main() {\n    println!(\"Hello\");\n}\n",
    ]);
    a.ok([
        "write",
        "-p",
        "/src/lib.rs",
        "// hello world\npub fn x() {}",
    ]);
    a.ok(["write", "-p", "/docs/readme.md", "HELLO docs\nnothing\n"]);
    a.run_stdin(["write", "/bin.dat"], b"hello\0binary");
    a.ok(["mkdir", "-p", "/src/deep/er"]);
    a.ok(["write", "/src/deep/er/big.txt", &"x".repeat(5000)]);
    a
}

fn t(path: &str, line: u64, text: &str) -> (String, u64, String) {
    (path.to_string(), line, text.to_string())
}

#[test]
fn grep_finds_lines_in_walk_order_skipping_binary_files() {
    let a = sample();
    let doc: GrepDoc = a.json(["grep", "hello"]);
    assert_eq!(doc.triples(), [t("/src/lib.rs", 1, "// hello world")]);
    assert_eq!(doc.binary_skipped, 1);
    let doc: GrepDoc = a.json(["grep", "-i", "hello"]);
    assert_eq!(
        doc.triples(),
        [
            t("/docs/readme.md", 1, "HELLO docs"),
            t("/src/lib.rs", 1, "// hello world"),
            t("/src/main.rs", 2, "    println!(\"Hello\");"),
        ]
    );
    let doc: GrepDoc = a.json(["grep", "-il", "hello", "/src"]);
    assert!(doc.matches.is_empty());
    let files: Vec<_> = doc.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["/src/lib.rs", "/src/main.rs"]);
    let doc: GrepDoc = a.json(["grep", "^fn", "/src/main.rs"]);
    assert_eq!(doc.triples(), [t("/src/main.rs", 1, "fn main() {")]);
    assert_eq!(doc.pattern, "^fn");
}

#[test]
fn grep_human_output_is_path_line_text() {
    let a = sample();
    assert_eq!(
        a.ok(["grep", "-n", "Hello"]),
        "/src/main.rs:2:    println!(\"Hello\");\n"
    );
    assert_eq!(
        a.ok(["grep", "Hello"]),
        "/src/main.rs:    println!(\"Hello\");\n"
    );
    assert_eq!(a.ok(["grep", "-l", "fn"]), "/src/lib.rs\n/src/main.rs\n");
    assert_eq!(a.ok(["grep", "nomatch"]), "");
}

#[test]
fn grep_rejects_a_bad_regex_and_a_missing_path() {
    let a = sample();
    let (err, status) = a.fails(["grep", "(unclosed"]);
    assert_eq!((err.code.as_str(), status), ("invalid_pattern", 2));
    let (err, status) = a.fails(["grep", "x", "/nope"]);
    assert_eq!((err.code.as_str(), status), ("path_not_found", 3));
}

fn found(a: &Avfs, args: &[&str]) -> Vec<String> {
    let mut all = vec!["find"];
    all.extend_from_slice(args);
    let doc: EntriesDoc = a.json(all);
    doc.entries.into_iter().map(|e| e.path).collect()
}

#[test]
fn find_filters_by_name_type_size_and_depth() {
    let a = sample();
    assert_eq!(
        found(&a, &["--name", "*.rs"]),
        ["/src/lib.rs", "/src/main.rs"]
    );
    assert_eq!(
        found(&a, &["--type", "d"]),
        ["/", "/docs", "/src", "/src/deep", "/src/deep/er"]
    );
    assert_eq!(
        found(&a, &["/src", "--type", "f", "--max-depth", "1"]),
        ["/src/lib.rs", "/src/main.rs"]
    );
    assert_eq!(found(&a, &["--max-depth", "0"]), ["/"]);
    assert_eq!(found(&a, &["--min-size", "4K"]), ["/src/deep/er/big.txt"]);
    assert_eq!(
        found(&a, &["--max-size", "12", "--type", "f"]),
        ["/bin.dat"]
    );
    assert_eq!(
        found(&a, &["/src/deep", "--name", "{big,small}.*"]),
        ["/src/deep/er/big.txt"]
    );
    assert_eq!(a.ok(["find", "/docs"]), "/docs\n/docs/readme.md\n");
}

#[test]
fn find_rejects_bad_globs_types_and_sizes() {
    let a = sample();
    let (err, status) = a.fails(["find", "--name", "[unclosed"]);
    assert_eq!((err.code.as_str(), status), ("invalid_pattern", 2));
    for bad in [
        ["--type", "x"],
        ["--min-size", "12Q"],
        ["--max-depth", "-1"],
    ] {
        let (err, status) = a.fails(["find", bad[0], bad[1]]);
        assert_eq!((err.code.as_str(), status), ("usage_error", 2), "{bad:?}");
    }
}

#[test]
fn grep_searches_the_first_mebibyte_of_a_huge_line_and_counts_lines_right() {
    let a = Avfs::with_vault();
    let mut text = b"first\n".to_vec();
    text.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    text.extend_from_slice(b"TAIL\nlast line\nno newline at end");
    a.run_stdin(["write", "/huge"], &text);
    let doc: GrepDoc = a.json(["grep", "last|first|end$"]);
    let lines: Vec<_> = doc
        .matches
        .iter()
        .map(|m| (m.line, m.text.clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, "first".to_string()),
            (3, "last line".to_string()),
            (4, "no newline at end".to_string())
        ]
    );
    let doc: GrepDoc = a.json(["grep", "TAIL"]);
    assert!(doc.matches.is_empty(), "past the first MiB of line 2");
    let doc: GrepDoc = a.json(["grep", "^a+$"]);
    assert_eq!((doc.matches[0].line, doc.matches[0].text.len()), (2, 4096));
}
