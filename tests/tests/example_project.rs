//! The example team project (`examples/invoices`) keeps its own Cargo.lock, as a team's
//! repository does. It must pin nothing accepted's lock does not: a second version of a
//! dependency would be a second build of it in every CI run, and a team reading the example
//! would inherit versions accepted never tested.

use std::collections::BTreeSet;

/// `(name, version)` of every package a lock file pins from a registry.
fn registry_packages(lock: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for package in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package.lines().find_map(|line| {
                line.strip_prefix(&format!("{key} = \""))
                    .and_then(|rest| rest.strip_suffix('"'))
                    .map(str::to_owned)
            })
        };
        if field("source").is_some_and(|s| s.starts_with("registry+")) {
            if let (Some(name), Some(version)) = (field("name"), field("version")) {
                found.insert((name, version));
            }
        }
    }
    found
}

#[test]
fn the_example_pins_only_versions_accepted_pins() {
    let accepted = registry_packages(include_str!("../../Cargo.lock"));
    let example = registry_packages(include_str!("../../examples/invoices/Cargo.lock"));
    assert!(
        example.len() > 100,
        "the example's lock was read: {}",
        example.len()
    );
    let extra: Vec<_> = example.difference(&accepted).collect();
    assert!(
        extra.is_empty(),
        "examples/invoices/Cargo.lock pins versions accepted's lock does not (copy Cargo.lock \
         over it and run `cargo metadata` there): {extra:?}"
    );
}

/// The binaries `template.yaml` builds (`Metadata.BuildProperties.Binary` of each function).
fn template_binaries() -> BTreeSet<String> {
    include_str!("../../template.yaml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary: "))
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn the_example_defines_every_binary_the_template_builds() {
    // `sam build --base-dir examples/invoices` builds `--bin <name>` of each function in the
    // example's workspace: a binary missing there is a function that cannot deploy.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/invoices/lambdas/src/bin"
    );
    let defined: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("the example's binaries")
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    let built = template_binaries();
    assert_eq!(built.len(), 7, "{built:?}");
    assert_eq!(defined, built);
}
