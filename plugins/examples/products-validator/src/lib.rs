//! products-validator: the rules for the example app's `products` rows that a
//! JSON Schema cannot say, because they relate one field to another.
//!
//! - `sale_price_cents`, when set, is not above `price_cents`;
//! - the `sku` starts with its category's prefix: the first three letters of
//!   `category`, uppercased, then `-` (category "beverages" -> "BEV-...");
//! - `stock` is not negative, except for the "services" category (a service
//!   has no stock to run out of).
//!
//! Each violation names its field. A field a rule needs that is missing or
//! of the wrong type is reported too, so the plugin fails closed even when
//! run before the schema check. It must stay a pure function of the row.
//! Called by the ebb host through the `validate` export; configured in
//! policies.toml as `tables.products.validate`.

use ebb_policy::{Row, RowExt, Validator, Violation};

/// The validator for the `products` table.
pub struct Products;

/// The category whose stock may go negative.
const SERVICES: &str = "services";

impl Validator for Products {
    fn validate(table: &str, row: &Row) -> Result<(), Vec<Violation>> {
        if table != "products" {
            return Err(vec![Violation::row(format!(
                "products-validator checks the products table, not {table:?}"
            ))]);
        }
        let mut violations = Vec::new();
        check_sale_price(row, &mut violations);
        check_sku_prefix(row, &mut violations);
        check_stock(row, &mut violations);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

ebb_policy::export_validator!(Products);

/// `sale_price_cents` (optional) must not exceed `price_cents`.
fn check_sale_price(row: &Row, out: &mut Vec<Violation>) {
    let Some(price) = int_field(row, "price_cents", out) else {
        return;
    };
    if row.is_null("sale_price_cents") {
        return;
    }
    let Some(sale) = int_field(row, "sale_price_cents", out) else {
        return;
    };
    if sale > price {
        out.push(Violation::new(
            "sale_price_cents",
            format!("sale price {sale} is above the regular price {price} (cents)"),
        ));
    }
}

/// `sku` must start with the prefix its `category` gives.
fn check_sku_prefix(row: &Row, out: &mut Vec<Violation>) {
    let (Some(sku), Some(category)) = (
        text_field(row, "sku", out),
        text_field(row, "category", out),
    ) else {
        return;
    };
    let Some(prefix) = sku_prefix(category) else {
        out.push(Violation::new(
            "category",
            "must contain at least one letter (the sku prefix is made from it)",
        ));
        return;
    };
    if !sku.starts_with(&prefix) {
        out.push(Violation::new(
            "sku",
            format!("must start with {prefix:?} for category {category:?}"),
        ));
    }
}

/// `stock` must not be negative unless the category is services.
fn check_stock(row: &Row, out: &mut Vec<Violation>) {
    let Some(stock) = int_field(row, "stock", out) else {
        return;
    };
    if stock < 0 && row.text("category") != Some(SERVICES) {
        out.push(Violation::new(
            "stock",
            format!("is {stock}; only the {SERVICES} category may go below zero"),
        ));
    }
}

/// The sku prefix of a category: its first three letters, uppercased, and
/// `-`; `None` when the category has no letter.
pub fn sku_prefix(category: &str) -> Option<String> {
    let letters: String = category
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(3)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        None
    } else {
        Some(format!("{letters}-"))
    }
}

/// The integer `field`, or a violation saying it is missing or not one.
fn int_field(row: &Row, field: &str, out: &mut Vec<Violation>) -> Option<i64> {
    let value = row.int(field);
    if value.is_none() {
        out.push(Violation::new(field, "must be an integer"));
    }
    value
}

/// The text `field`, or a violation saying it is missing or not text.
fn text_field<'r>(row: &'r Row, field: &str, out: &mut Vec<Violation>) -> Option<&'r str> {
    let value = row.text(field);
    if value.is_none() {
        out.push(Violation::new(field, "must be text"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebb_policy::testing;
    use serde_json::{Value, json};

    fn product() -> Value {
        json!({
            "id": "p1", "sku": "BEV-001", "name": "Cola", "category": "beverages",
            "price_cents": 250, "sale_price_cents": null, "stock": 10,
            "updated_at": "2025-01-01T00:00:00Z"
        })
    }

    fn with(mut row: Value, field: &str, value: Value) -> Value {
        row[field] = value;
        row
    }

    fn fields(result: Result<(), Vec<Violation>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_good_product_passes() {
        assert_eq!(testing::validate::<Products>("products", product()), Ok(()));
        let on_sale = with(product(), "sale_price_cents", json!(250));
        assert_eq!(testing::validate::<Products>("products", on_sale), Ok(()));
    }

    #[test]
    fn sale_price_above_price_is_refused() {
        let row = with(product(), "sale_price_cents", json!(251));
        let err = testing::validate::<Products>("products", row).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, "sale_price_cents");
        assert!(err[0].message.contains("251"), "{}", err[0].message);
    }

    #[test]
    fn sku_must_carry_the_category_prefix() {
        let row = with(product(), "sku", json!("SNA-001"));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["sku"]
        );
        let row = with(product(), "sku", json!("bev-001"));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["sku"]
        );
        let row = with(product(), "category", json!("--"));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["category"]
        );
    }

    #[test]
    fn sku_prefix_takes_three_letters() {
        assert_eq!(sku_prefix("beverages").as_deref(), Some("BEV-"));
        assert_eq!(sku_prefix("tv").as_deref(), Some("TV-"));
        assert_eq!(sku_prefix("3d prints").as_deref(), Some("DPR-"));
        assert_eq!(sku_prefix("123"), None);
    }

    #[test]
    fn negative_stock_only_for_services() {
        let row = with(product(), "stock", json!(-1));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["stock"]
        );
        let service = json!({
            "id": "s1", "sku": "SER-1", "name": "Repair", "category": "services",
            "price_cents": 1000, "sale_price_cents": null, "stock": -5, "updated_at": "x"
        });
        assert_eq!(testing::validate::<Products>("products", service), Ok(()));
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let row = with(with(product(), "stock", json!(-2)), "sku", json!("X-1"));
        let row = with(row, "sale_price_cents", json!(999));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["sale_price_cents", "sku", "stock"]
        );
    }

    #[test]
    fn missing_or_mistyped_fields_fail_closed() {
        let row = with(product(), "price_cents", json!("250"));
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["price_cents"]
        );
        let mut row = product();
        row.as_object_mut().unwrap().remove("stock");
        assert_eq!(
            fields(testing::validate::<Products>("products", row)),
            ["stock"]
        );
    }

    #[test]
    fn bad_input_and_wrong_table_are_row_violations() {
        let err = testing::validate_text::<Products>("products", "{not json").unwrap_err();
        assert_eq!(err[0].field, "");
        let err = testing::validate::<Products>("debts", product()).unwrap_err();
        assert_eq!(err[0].field, "");
        assert!(err[0].message.contains("debts"));
    }
}
