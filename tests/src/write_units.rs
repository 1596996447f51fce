//! DynamoDB's on-demand write billing, applied to the writes a table's stream recorded, so a
//! test can say what a job costs in write units from the real items and the real indexes.
//!
//! The rules are AWS's ("Item sizes and formats", "Global secondary indexes: provisioned
//! throughput considerations"): a write costs one unit per started KB of the larger of the item
//! before and after it, twice that in a transaction. Each index whose entry the write creates,
//! changes or removes costs one more write per started KB of the entry; a new index key is a
//! delete and a put (two); an update that touches neither the index's keys nor its projected
//! attributes costs the index nothing. TTL deletions are free.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ProjectionType, TableDescription};
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record};

pub type Image = HashMap<String, AttributeValue>;

const KB: usize = 1024;

/// The size DynamoDB bills for an attribute value.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        // 3 bytes for the container, 1 per element.
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => panic!("an attribute type this model does not know: {value:?}"),
    }
}

/// About one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n
        .trim_start_matches('-')
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

/// An item's size: the names and values of its attributes.
pub fn item_size(item: &Image) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(KB).max(1)).expect("a size in KB")
}

/// One global secondary index: what keys it and what it projects.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    keys: Vec<String>,
    /// `None` projects every attribute.
    projected: Option<Vec<String>>,
}

/// A table's key and its indexes, as DescribeTable reports them.
#[derive(Debug, Clone)]
pub struct Table {
    pub indexes: Vec<Index>,
}

impl Table {
    pub fn from_description(table: &TableDescription) -> Self {
        let keys = table
            .key_schema()
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect::<Vec<_>>();
        let indexes = table
            .global_secondary_indexes()
            .iter()
            .map(|gsi| {
                let index_keys: Vec<String> = gsi
                    .key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_owned())
                    .collect();
                let projection = gsi.projection().expect("an index has a projection");
                let projected = match projection.projection_type() {
                    Some(ProjectionType::All) => None,
                    Some(ProjectionType::Include) => Some(
                        projection
                            .non_key_attributes()
                            .iter()
                            .cloned()
                            .chain(keys.iter().cloned())
                            .chain(index_keys.iter().cloned())
                            .collect(),
                    ),
                    _ => Some(keys.iter().cloned().chain(index_keys.clone()).collect()),
                };
                Index {
                    name: gsi.index_name().expect("an index name").to_owned(),
                    keys: index_keys,
                    projected,
                }
            })
            .collect();
        Self { indexes }
    }

    /// What one write cost: the item, then each index it touched.
    pub fn write_cost(
        &self,
        old: Option<&Image>,
        new: Option<&Image>,
        transactional: bool,
    ) -> Cost {
        let size = old.map_or(0, item_size).max(new.map_or(0, item_size));
        let item = units(size) * if transactional { 2 } else { 1 };
        let mut indexes = Vec::new();
        for index in &self.indexes {
            let units = index.write_units(old, new);
            if units > 0 {
                indexes.push((index.name.clone(), units));
            }
        }
        indexes.sort();
        Cost { item, indexes }
    }

    /// The cost of each write a stream recorded. `transactional` says which were written by
    /// `TransactWriteItems` (the stream does not). TTL deletions cost nothing.
    pub fn stream_cost(&self, records: &[Record], transactional: impl Fn(&Record) -> bool) -> Cost {
        let mut total = Cost::default();
        for record in records {
            let by_ttl = record
                .user_identity()
                .and_then(|who| who.principal_id())
                .is_some_and(|p| p == "dynamodb.amazonaws.com");
            if by_ttl && record.event_name() == Some(&OperationType::Remove) {
                continue;
            }
            let change = record.dynamodb().expect("a stream record has a change");
            total += self.write_cost(
                change.old_image(),
                change.new_image(),
                transactional(record),
            );
        }
        total
    }
}

impl Index {
    fn entry(&self, item: Option<&Image>) -> Option<Image> {
        let item = item?;
        if !self.keys.iter().all(|k| item.contains_key(k)) {
            return None; // sparse: no entry
        }
        Some(match &self.projected {
            None => item.clone(),
            Some(names) => item
                .iter()
                .filter(|(k, _)| names.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn write_units(&self, old: Option<&Image>, new: Option<&Image>) -> u32 {
        let before = self.entry(old);
        let after = self.entry(new);
        match (before, after) {
            (None, None) => 0,
            (Some(_), None) => 1,
            (None, Some(entry)) => units(item_size(&entry)),
            (Some(before), Some(after)) => {
                let moved = self.keys.iter().any(|k| before.get(k) != after.get(k));
                if moved {
                    1 + units(item_size(&after))
                } else if before != after {
                    units(item_size(&before).max(item_size(&after)))
                } else {
                    0
                }
            }
        }
    }
}

/// Write units: the items' own, and each index's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    pub item: u32,
    pub indexes: Vec<(String, u32)>,
}

impl Cost {
    pub fn total(&self) -> u32 {
        self.item + self.indexes.iter().map(|(_, units)| units).sum::<u32>()
    }
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        self.item += other.item;
        for (name, units) in other.indexes {
            match self.indexes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += units,
                None => self.indexes.push((name, units)),
            }
        }
        self.indexes.sort();
    }
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (item {}", self.total(), self.item)?;
        for (name, units) in &self.indexes {
            write!(f, ", {name} {units}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndexDescription, KeySchemaElement, KeyType, Projection,
    };

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    fn image(pairs: &[(&str, AttributeValue)]) -> Image {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn key(name: &str, kind: KeyType) -> KeySchemaElement {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    }

    fn gsi(
        name: &str,
        keys: &[&str],
        projection: ProjectionType,
    ) -> GlobalSecondaryIndexDescription {
        let mut builder = GlobalSecondaryIndexDescription::builder()
            .index_name(name)
            .projection(Projection::builder().projection_type(projection).build());
        for (i, k) in keys.iter().enumerate() {
            builder = builder.key_schema(key(
                k,
                if i == 0 {
                    KeyType::Hash
                } else {
                    KeyType::Range
                },
            ));
        }
        builder.build()
    }

    fn table() -> Table {
        Table::from_description(
            &TableDescription::builder()
                .key_schema(key("pk", KeyType::Hash))
                .global_secondary_indexes(gsi("all", &["owner", "at"], ProjectionType::All))
                .global_secondary_indexes(gsi("keys", &["open"], ProjectionType::KeysOnly))
                .build(),
        )
    }

    #[test]
    fn sizes_follow_the_published_rules() {
        assert_eq!(value_size(&s("héllo")), 6); // UTF-8 bytes
        assert_eq!(number_size("1700000000000"), 1 + 1); // "17": one byte, plus one
        assert_eq!(number_size("123"), 2 + 1);
        assert_eq!(number_size("0"), 2);
        assert_eq!(value_size(&AttributeValue::Bool(true)), 1);
        let map = AttributeValue::M(HashMap::from([("ab".to_owned(), s("xyz"))]));
        assert_eq!(value_size(&map), 3 + 1 + 2 + 3);
        assert_eq!(
            value_size(&AttributeValue::L(vec![s("a"), s("bc")])),
            3 + 2 + 3
        );
        assert_eq!(
            item_size(&image(&[("pk", s("JOB#1")), ("n", n("5"))])),
            2 + 5 + 1 + 2
        );
    }

    #[test]
    fn an_item_costs_a_unit_per_started_kb_and_double_in_a_transaction() {
        let t = Table::from_description(
            &TableDescription::builder()
                .key_schema(key("pk", KeyType::Hash))
                .build(),
        );
        let small = image(&[("pk", s("a"))]);
        let big = image(&[("pk", s("a")), ("blob", s(&"x".repeat(1500)))]);
        assert_eq!(t.write_cost(None, Some(&small), false).total(), 1);
        assert_eq!(t.write_cost(None, Some(&small), true).total(), 2);
        // An update is billed on the larger side, a shrink included.
        assert_eq!(t.write_cost(Some(&big), Some(&small), false).total(), 2);
    }

    #[test]
    fn indexes_cost_only_what_a_write_changes_in_them() {
        let t = table();
        let pending = image(&[
            ("pk", s("JOB#1")),
            ("owner", s("u")),
            ("at", n("1")),
            ("open", s("u")),
            ("status", s("pending")),
        ]);
        let mut running = pending.clone();
        running.insert("status".into(), s("running"));
        let mut done = running.clone();
        done.remove("open");
        done.insert("status".into(), s("completed"));
        let mut moved = pending.clone();
        moved.insert("at".into(), n("2"));

        let named = |c: Cost| c.indexes;
        assert_eq!(
            named(t.write_cost(None, Some(&pending), false)),
            vec![("all".to_owned(), 1), ("keys".to_owned(), 1)]
        );
        // `all` projects status; `keys` sees no change.
        assert_eq!(
            named(t.write_cost(Some(&pending), Some(&running), false)),
            vec![("all".to_owned(), 1)]
        );
        // Leaving a sparse index is a delete.
        assert_eq!(
            named(t.write_cost(Some(&running), Some(&done), false)),
            vec![("all".to_owned(), 1), ("keys".to_owned(), 1)]
        );
        // A new index key is a delete and a put.
        assert_eq!(
            named(t.write_cost(Some(&pending), Some(&moved), false)),
            vec![("all".to_owned(), 2)]
        );
    }
}
