//! One compiled dependency graph for every build CI makes: the tests, the binaries and the
//! example team project.
//!
//! Cargo compiles a crate once per feature set. The test build's dev-dependencies (proptest,
//! criterion) turn on features of crates that sit below the AWS SDK (`getrandom` under `uuid`
//! and `aws-runtime`, `either` under `aws-smithy-types`), so any build without them, such as
//! `cargo build` or a `-p` selection, compiled the whole SDK again (13 minutes of a cold CI
//! run). `accepted-core` turns those features on always, and this test keeps the graphs equal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Registry packages and their features, as `cargo tree` resolves them for `edges`.
fn resolved(manifest_dir: &Path, edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--workspace",
            "--edges",
            edges,
        ])
        .args(["--prefix", "none", "--format", "{p} [{f}]"])
        .current_dir(manifest_dir)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed in {}: {}",
        manifest_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, features)) = line.split_once(" [") else {
            continue;
        };
        // Path packages (ours) are compiled per workspace anyway.
        if package.contains(" (") {
            continue;
        }
        packages.entry(package.to_owned()).or_default().extend(
            features
                .trim_end_matches(']')
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        );
    }
    packages
}

/// Packages shared by both graphs whose features differ, with the difference.
fn differences(
    a: &BTreeMap<String, BTreeSet<String>>,
    b: &BTreeMap<String, BTreeSet<String>>,
    allowed: &[&str],
) -> Vec<String> {
    a.iter()
        .filter_map(|(package, features)| {
            let other = b.get(package)?;
            let name = package.split(' ').next().unwrap_or_default();
            (features != other && !allowed.contains(&name)).then(|| {
                let only_a: Vec<_> = features.difference(other).collect();
                let only_b: Vec<_> = other.difference(features).collect();
                format!("{package}: {only_a:?} against {only_b:?}")
            })
        })
        .collect()
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
}

#[test]
fn binaries_compile_against_the_graph_the_tests_compile() {
    let tests = resolved(workspace_root(), "normal,build,dev");
    let binaries = resolved(workspace_root(), "normal,build");
    let differ = differences(&tests, &binaries, &[]);
    assert!(
        differ.is_empty(),
        "turn these features on in shared/Cargo.toml: {differ:#?}"
    );
}

#[test]
fn the_example_project_compiles_against_the_same_graph() {
    let tests = resolved(workspace_root(), "normal,build,dev");
    let example = resolved(
        &workspace_root().join("examples/invoices"),
        "normal,build,dev",
    );
    // serde_dynamo's streams support is for the test stack's stream reader only; it sits
    // above the SDK, so only serde_dynamo and the events function compile twice.
    let differ = differences(&tests, &example, &["serde_dynamo"]);
    assert!(
        differ.is_empty(),
        "turn these features on in shared/Cargo.toml: {differ:#?}"
    );
}
