//! stock-resolver: settles conflicting edits of the example app's
//! `products` rows, where two devices sold from the same stock offline.
//!
//! - `stock` merges by delta from the base: base + (local - base) +
//!   (remote - base), so two devices selling 3 and 2 of 10 give 5;
//! - every other field: changed on one side only -> that side's value;
//!   changed on both sides (or neither) -> the remote value.
//!
//! A row deleted on one side, a conflict with no base, and a merge that
//! oversells (negative stock outside the "services" category, which the
//! products validator would refuse) go to a person (`manual`). A missing or
//! mistyped `stock` is the plugin's error (`Err`). Pure function of its
//! inputs. Called by the ebb host through the `resolve` export; configured
//! as `tables.products.conflict`.

use ebb_policy::{Resolution, Resolver, Row, RowExt, Sides};
use serde_json::Value;

/// The conflict resolver for the `products` table.
pub struct Stock;

/// The category whose stock may go negative.
const SERVICES: &str = "services";

impl Resolver for Stock {
    fn resolve(
        table: &str,
        local: Option<&Row>,
        remote: Option<&Row>,
        base: Option<&Row>,
    ) -> Result<Resolution, String> {
        if table != "products" {
            return Err(format!(
                "stock-resolver resolves the products table, not {table:?}"
            ));
        }
        let sides = match Sides::live(local, remote, base) {
            Ok(sides) => sides,
            // Deleted on both sides (they agree), on one, or no base.
            Err(answer) => return Ok(answer),
        };
        let mut merged = sides.merge_fields();
        let stock = sides.delta("stock")?;
        if stock < 0 && merged.text("category") != Some(SERVICES) {
            return Ok(Resolution::Manual(format!(
                "oversold: sales on both devices leave a stock of {stock}"
            )));
        }
        merged.insert("stock".into(), Value::from(stock));
        Ok(Resolution::Merged(merged))
    }
}

ebb_policy::export_resolver!(Stock);

#[cfg(test)]
mod tests {
    use super::*;
    use ebb_policy::testing;
    use serde_json::json;

    fn product(stock: i64, name: &str, price: i64) -> Value {
        json!({
            "id": "p1", "sku": "BEV-001", "name": name, "category": "beverages",
            "price_cents": price, "sale_price_cents": null, "stock": stock,
            "updated_at": "t0"
        })
    }

    fn merged(result: Result<Resolution, String>) -> Row {
        match result {
            Ok(Resolution::Merged(row)) => row,
            other => panic!("expected a merged row, got {other:?}"),
        }
    }

    #[test]
    fn two_devices_selling_3_and_2_of_10_leave_5() {
        let base = product(10, "Cola", 250);
        let row = merged(testing::resolve::<Stock>(
            "products",
            product(7, "Cola", 250),
            product(8, "Cola", 250),
            Some(base),
        ));
        assert_eq!(row["stock"], json!(5));
    }

    #[test]
    fn other_fields_take_the_side_that_changed_them() {
        let base = product(10, "Cola", 250);
        let mut local = product(9, "Cola Zero", 250);
        local["updated_at"] = json!("t-local");
        let mut remote = product(10, "Cola", 300);
        remote["updated_at"] = json!("t-remote");
        let row = merged(testing::resolve::<Stock>(
            "products",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["name"], json!("Cola Zero"), "changed locally only");
        assert_eq!(row["price_cents"], json!(300), "changed remotely only");
        assert_eq!(row["updated_at"], json!("t-remote"), "changed on both");
        assert_eq!(row["stock"], json!(9));
        assert_eq!(row.keys().count(), 8);
    }

    #[test]
    fn both_sides_changing_a_field_gives_remote() {
        let base = product(10, "Cola", 250);
        let local = product(10, "Local name", 250);
        let remote = product(10, "Remote name", 250);
        let row = merged(testing::resolve::<Stock>(
            "products",
            local,
            remote,
            Some(base),
        ));
        assert_eq!(row["name"], json!("Remote name"));
    }

    #[test]
    fn overselling_goes_to_a_person_except_for_services() {
        let base = product(5, "Cola", 250);
        let got = testing::resolve::<Stock>(
            "products",
            product(1, "Cola", 250),
            product(2, "Cola", 250),
            Some(base),
        );
        match got {
            Ok(Resolution::Manual(reason)) => assert!(reason.contains("-2"), "{reason}"),
            other => panic!("expected manual, got {other:?}"),
        }
        let service = |stock: i64| {
            let mut row = product(stock, "Repair", 1000);
            row["category"] = json!("services");
            row
        };
        let row = merged(testing::resolve::<Stock>(
            "products",
            service(-1),
            service(-2),
            Some(service(0)),
        ));
        assert_eq!(row["stock"], json!(-3));
    }

    #[test]
    fn deleted_side_or_missing_base_is_manual() {
        let row = product(1, "Cola", 250);
        let got =
            testing::resolve::<Stock>("products", Value::Null, row.clone(), Some(row.clone()));
        assert_eq!(got, Ok(Resolution::Manual("deleted on one side".into())));
        let got = testing::resolve::<Stock>("products", row.clone(), row.clone(), None);
        assert!(matches!(got, Ok(Resolution::Manual(r)) if r.contains("no common base")));
        let got = testing::resolve::<Stock>("products", Value::Null, Value::Null, None);
        assert_eq!(got, Ok(Resolution::TakeRemote));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let row = product(1, "Cola", 250);
        let mut broken = row.clone();
        broken["stock"] = Value::Null;
        let got = testing::resolve::<Stock>("products", row.clone(), broken, Some(row.clone()));
        assert_eq!(got, Err("remote stock must be an integer".into()));
        let big = product(i64::MAX, "Cola", 250);
        let got =
            testing::resolve::<Stock>("products", big.clone(), big, Some(product(-1, "Cola", 250)));
        assert_eq!(got, Err("merged stock overflows".into()));
        let got = testing::resolve_text::<Stock>("products", "{}", "[]", Some("{}"));
        assert!(got.unwrap_err().starts_with("remote must be"));
        let got = testing::resolve::<Stock>("debts", row.clone(), row, None);
        assert!(got.unwrap_err().contains("debts"));
    }
}
