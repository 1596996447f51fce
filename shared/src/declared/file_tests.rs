use super::*;
use serde_json::json;

fn parsed(text: &str) -> Result<Vec<DeclaredType>, String> {
    parse(text, Path::new("/srv/jobs")).map_err(|e| match e {
        Parsed::File(reason) => reason,
        Parsed::Type(name, reason) => format!("{name}: {reason}"),
    })
}

const WORDCOUNT: &str = r#"
version: 1
types:
  - name: text.wordcount
    description: Counts the words of a text.
    input_schema:
      type: object
      required: [text]
      properties:
        text: {type: string, maxLength: 100000}
    example_input: {text: "to be or not to be"}
    retry: {max_attempts: 3, base_ms: 500}
    time_limit_seconds: 30
    run:
      lambda: wordcount-prod
      command: [python3, wordcount.py, --strict]
      env: {LANG: C.UTF-8}
"#;

#[test]
fn a_declaration_resolves_to_its_type() {
    let types = parsed(WORDCOUNT).expect("valid");
    assert_eq!(types.len(), 1);
    let t = &types[0];
    assert_eq!(t.name, "text.wordcount");
    assert_eq!(t.input_schema["required"], json!(["text"]));
    assert_eq!(t.example_input, Some(json!({"text": "to be or not to be"})));
    assert_eq!(t.retry.max_attempts, Some(3));
    assert_eq!(t.retry.base_ms, Some(500));
    assert_eq!(t.time_limit, Duration::from_secs(30));
    assert_eq!(t.run.lambda.as_deref(), Some("wordcount-prod"));
    assert_eq!(
        t.run.local,
        Some(LocalTarget::Command {
            argv: vec!["python3".into(), "wordcount.py".into(), "--strict".into()],
            env: BTreeMap::from([("LANG".into(), "C.UTF-8".into())]),
            dir: PathBuf::from("/srv/jobs"),
        })
    );
}

#[test]
fn schema_files_are_read_relative_to_the_declaration() {
    let dir = tempfile::tempdir().expect("a dir");
    std::fs::create_dir(dir.path().join("schemas")).expect("mkdir");
    std::fs::write(
        dir.path().join("schemas/in.json"),
        r#"{"type": "object", "required": ["n"]}"#,
    )
    .expect("write");
    let file = dir.path().join("job-types.yaml");
    std::fs::write(
        &file,
        "version: 1\ntypes:\n  - name: math.square\n    input_schema_file: schemas/in.json\n    time_limit_seconds: 5\n    run: {http: 'http://127.0.0.1:8085/square'}\n",
    )
    .expect("write");
    let types = load(&file).expect("valid");
    assert_eq!(types[0].input_schema["required"], json!(["n"]));
    assert!(
        matches!(&types[0].run.local, Some(LocalTarget::Http { url }) if url.path() == "/square")
    );
}

#[test]
fn every_mistake_is_refused_with_the_type_and_the_reason() {
    let one = |body: &str| {
        let text = format!("version: 1\ntypes:\n  - name: t.x\n{body}");
        parsed(&text).expect_err("refused")
    };
    let schema = "    input_schema: {type: object}\n";
    let limit = "    time_limit_seconds: 10\n";
    let cases = [
        (
            format!("{limit}    run: {{command: [x]}}\n"),
            "needs input_schema",
        ),
        (
            format!("{schema}    run: {{command: [x]}}\n"),
            "time_limit_seconds",
        ),
        (
            format!("{schema}    time_limit_seconds: 901\n    run: {{command: [x]}}\n"),
            "from 1 to 900",
        ),
        (format!("{schema}{limit}    run: {{}}\n"), "needs a target"),
        (
            format!("{schema}{limit}    run: {{command: []}}\n"),
            "needs a program",
        ),
        (
            format!("{schema}{limit}    run: {{command: [x], http: 'http://127.0.0.1/'}}\n"),
            "not both",
        ),
        (
            format!("{schema}{limit}    run: {{http: 'http://example.com/'}}\n"),
            "on loopback",
        ),
        (
            format!("{schema}{limit}    run: {{http: 'https://127.0.0.1/'}}\n"),
            "on loopback",
        ),
        (
            format!("{schema}{limit}    run: {{http: 'http://127.0.0.1/', env: {{A: b}}}}\n"),
            "only to run.command",
        ),
        (
            format!("{schema}{limit}    run: {{command: [x], env: {{'A=B': c}}}}\n"),
            "not a variable name",
        ),
        (
            format!("{schema}{limit}    run: {{lambda: 'a b'}}\n"),
            "run.lambda",
        ),
        (
            format!("{schema}{limit}    retry: {{max_attempts: 0}}\n    run: {{lambda: f}}\n"),
            "max_attempts",
        ),
        (
            format!(
                "{schema}{limit}    retry: {{base_ms: 10, cap_ms: 5}}\n    run: {{lambda: f}}\n"
            ),
            "base_ms",
        ),
        (
            format!("{schema}{limit}    input_schema_file: x.json\n    run: {{lambda: f}}\n"),
            "not both",
        ),
        (
            format!("{schema}{limit}    run: {{lambda: f}}\n    colour: red\n"),
            "unknown field `colour`",
        ),
    ];
    for (body, expected) in cases {
        let refused = one(&body);
        assert!(refused.contains(expected), "{body}\n=> {refused}");
    }
    let twice = "version: 1\ntypes:\n  - {name: a, input_schema: {}, time_limit_seconds: 1, run: {lambda: f}}\n  - {name: a, input_schema: {}, time_limit_seconds: 1, run: {lambda: f}}\n";
    assert_eq!(parsed(twice).unwrap_err(), "a: is declared twice");
    assert!(parsed("version: 2\ntypes: []\n")
        .unwrap_err()
        .contains("version 2 is not supported"));
}

#[test]
fn a_missing_or_oversized_file_names_its_path() {
    let dir = tempfile::tempdir().expect("a dir");
    let missing = dir.path().join("nope.yaml");
    let err = load(&missing).expect_err("refused").to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b' '; (MAX_FILE_BYTES + 1) as usize]).expect("write");
    assert!(load(&big)
        .expect_err("refused")
        .to_string()
        .contains("at most"));
}
