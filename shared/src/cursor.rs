//! The opaque `cursor` of `GET /jobs`: a listing position clients hand back unchanged.
//!
//! It is versioned hex so its layout can change without breaking old cursors silently: a
//! cursor this code cannot read is a `400`, never a wrong page. It holds only what the caller
//! already saw (a creation time and one of their own job ids), and the owner always comes from
//! the caller's identity, so a forged cursor can only move within the caller's own jobs.

use crate::ids::JobId;
use crate::ports::ListPosition;
use crate::time::Timestamp;

const VERSION: &str = "1";

pub fn encode(position: &ListPosition) -> String {
    let raw = format!(
        "{VERSION}:{}:{}",
        position.created_at.as_millis(),
        position.id
    );
    hex::encode(raw)
}

/// The position a cursor names, or `None` for anything this code did not produce.
pub fn decode(cursor: &str) -> Option<ListPosition> {
    if cursor.len() > 128 {
        return None;
    }
    let raw = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    let mut parts = raw.split(':');
    let (version, millis, id) = (parts.next()?, parts.next()?, parts.next()?);
    if version != VERSION || parts.next().is_some() {
        return None;
    }
    Some(ListPosition {
        created_at: Timestamp::from_millis(millis.parse().ok().filter(|ms: &i64| *ms >= 0)?),
        id: JobId::parse(id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let position = ListPosition {
            created_at: Timestamp::from_millis(1_764_000_000_123),
            id: JobId::generate(),
        };
        assert_eq!(decode(&encode(&position)), Some(position.clone()));
        let tampered = hex::encode(format!("2:1:{}", position.id));
        for bad in [
            "",
            "zz",
            "00",
            &tampered,
            &hex::encode("1:-5:x"),
            &"a".repeat(200),
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
