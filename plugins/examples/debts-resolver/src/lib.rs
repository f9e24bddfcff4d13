//! debts-resolver: settles conflicting edits of the example app's `debts`
//! rows when two devices recorded payments on the same debt.
//!
//! - `amount_paid_cents` merges by delta from the base:
//!   base + (local - base) + (remote - base), so two payments taken offline
//!   on two devices both count;
//! - `status` is recomputed from the merged amounts: `paid` when
//!   amount_paid_cents >= amount_cents, else `open`;
//! - every other field falls to the remote side.
//!
//! A row deleted on one side, or a conflict with no base to merge from, goes
//! to a person (`manual`). So does a merge whose payments from both devices
//! add up to more than the debt (likely one payment recorded twice), or that
//! would make the paid amount negative. Missing or mistyped amounts are the
//! plugin's error (`Err`, which the host turns into a manual conflict).
//! Pure function of its inputs. Called by the ebb host through the
//! `resolve` export; configured as `tables.debts.conflict`.

use ebb_policy::{Level, Resolution, Resolver, Row, RowExt, Sides, log};
use serde_json::Value;

/// The conflict resolver for the `debts` table.
pub struct Debts;

impl Resolver for Debts {
    fn resolve(
        table: &str,
        local: Option<&Row>,
        remote: Option<&Row>,
        base: Option<&Row>,
    ) -> Result<Resolution, String> {
        if table != "debts" {
            return Err(format!(
                "debts-resolver resolves the debts table, not {table:?}"
            ));
        }
        match Sides::live(local, remote, base) {
            Ok(sides) => merge(sides),
            // Deleted on both sides (they agree), on one, or no base.
            Err(answer) => Ok(answer),
        }
    }
}

ebb_policy::export_resolver!(Debts);

/// The three-way merge of two live rows with their base.
fn merge(sides: Sides<'_>) -> Result<Resolution, String> {
    let [paid_base, paid_local, paid_remote] = sides.ints("amount_paid_cents")?;
    let remote = sides.remote;
    let amount_due = remote
        .int("amount_cents")
        .ok_or("remote amount_cents must be an integer")?;

    let local_delta = paid_local
        .checked_sub(paid_base)
        .ok_or("amount_paid_cents overflows")?;
    let remote_delta = paid_remote
        .checked_sub(paid_base)
        .ok_or("amount_paid_cents overflows")?;
    let paid = paid_base
        .checked_add(local_delta)
        .and_then(|p| p.checked_add(remote_delta))
        .ok_or("merged amount_paid_cents overflows")?;

    if paid < 0 {
        return Ok(Resolution::Manual(format!(
            "merged amount_paid_cents would be negative ({paid})"
        )));
    }
    if paid > amount_due && local_delta != 0 && remote_delta != 0 {
        return Ok(Resolution::Manual(format!(
            "payments recorded on both devices ({local_delta} and {remote_delta} cents) \
             add up to {paid}, more than the debt of {amount_due}; check for a payment \
             recorded twice"
        )));
    }

    let status = if paid >= amount_due { "paid" } else { "open" };
    let mut merged = remote.clone();
    merged.insert("amount_paid_cents".into(), Value::from(paid));
    merged.insert("status".into(), Value::from(status));
    log(
        Level::Debug,
        &format!("merged payments: {local_delta:+} local, {remote_delta:+} remote -> {status}"),
    );
    Ok(Resolution::Merged(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebb_policy::testing;
    use serde_json::json;

    fn debt(paid: i64, status: &str, note: Value) -> Value {
        json!({
            "id": "d1", "customer_id": "c1", "amount_cents": 10_000,
            "amount_paid_cents": paid, "status": status, "note": note,
            "updated_at": "2025-01-01T00:00:00Z"
        })
    }

    fn merged(result: Result<Resolution, String>) -> Row {
        match result {
            Ok(Resolution::Merged(row)) => row,
            other => panic!("expected a merged row, got {other:?}"),
        }
    }

    fn manual(result: Result<Resolution, String>) -> String {
        match result {
            Ok(Resolution::Manual(reason)) => reason,
            other => panic!("expected manual, got {other:?}"),
        }
    }

    #[test]
    fn payments_on_both_devices_add_up() {
        let base = debt(2_000, "open", Value::Null);
        let local = debt(5_000, "open", json!("paid cash"));
        let remote = debt(3_000, "open", json!("bank transfer"));
        let row = merged(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["amount_paid_cents"], json!(6_000));
        assert_eq!(row["status"], json!("open"));
        // Other fields fall to the remote side.
        assert_eq!(row["note"], json!("bank transfer"));
        assert_eq!(row["id"], json!("d1"));
        assert_eq!(testing::take_logs().len(), 1);
    }

    #[test]
    fn status_is_recomputed_from_the_merged_amounts() {
        let base = debt(4_000, "open", Value::Null);
        let local = debt(7_000, "open", Value::Null);
        let remote = debt(7_000, "open", Value::Null);
        let row = merged(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["amount_paid_cents"], json!(10_000));
        assert_eq!(row["status"], json!("paid"));

        // Only one side paid in full: its own status stands, recomputed.
        let base = debt(4_000, "open", Value::Null);
        let local = debt(10_000, "open", Value::Null);
        let remote = debt(4_000, "open", json!("called"));
        let row = merged(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["amount_paid_cents"], json!(10_000));
        assert_eq!(row["status"], json!("paid"));
        assert_eq!(row["note"], json!("called"));
    }

    #[test]
    fn a_reverted_payment_reopens_the_debt() {
        let base = debt(10_000, "paid", Value::Null);
        let local = debt(7_000, "open", Value::Null);
        let remote = debt(10_000, "paid", json!("x"));
        let row = merged(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["amount_paid_cents"], json!(7_000));
        assert_eq!(row["status"], json!("open"));
    }

    #[test]
    fn overpayment_from_both_devices_goes_to_a_person() {
        let base = debt(0, "open", Value::Null);
        let local = debt(10_000, "paid", Value::Null);
        let remote = debt(10_000, "paid", Value::Null);
        let reason = manual(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert!(reason.contains("recorded twice"), "{reason}");
    }

    #[test]
    fn negative_merged_payment_goes_to_a_person() {
        let base = debt(1_000, "open", Value::Null);
        let local = debt(0, "open", Value::Null);
        let remote = debt(0, "open", Value::Null);
        let reason = manual(testing::resolve::<Debts>(
            "debts",
            local,
            remote,
            Some(base),
        ));
        assert!(reason.contains("negative"), "{reason}");
    }

    #[test]
    fn deleted_side_or_missing_base_is_manual() {
        let row = debt(1, "open", Value::Null);
        let got = testing::resolve::<Debts>("debts", Value::Null, row.clone(), Some(row.clone()));
        assert_eq!(manual(got), "deleted on one side");
        let got = testing::resolve::<Debts>("debts", row.clone(), Value::Null, Some(row.clone()));
        assert_eq!(manual(got), "deleted on one side");
        let got = testing::resolve::<Debts>("debts", row.clone(), row.clone(), None);
        assert!(manual(got).contains("no common base"));
        let got = testing::resolve::<Debts>("debts", Value::Null, Value::Null, None);
        assert_eq!(got, Ok(Resolution::TakeRemote));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let row = debt(1, "open", Value::Null);
        let mut broken = row.clone();
        broken["amount_paid_cents"] = json!("12");
        let got = testing::resolve::<Debts>("debts", broken, row.clone(), Some(row.clone()));
        assert_eq!(
            got,
            Err("local amount_paid_cents must be an integer".into())
        );
        let mut huge = row.clone();
        huge["amount_paid_cents"] = json!(i64::MAX);
        let got = testing::resolve::<Debts>("debts", huge.clone(), huge, Some(row.clone()));
        assert!(got.unwrap_err().contains("overflows"));
        let got = testing::resolve_text::<Debts>("debts", "{", "{}", None);
        assert!(got.unwrap_err().starts_with("local is not valid JSON"));
        let got = testing::resolve::<Debts>("products", row.clone(), row, None);
        assert!(got.unwrap_err().contains("products"));
    }
}
