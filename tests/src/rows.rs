//! Example rows with fresh uuid keys, valid for the example app's tables,
//! its JSON Schemas and the products validator plugin (the sku carries the
//! category's prefix). Pure values; the device and the database write them.

use serde_json::{Value, json};

/// A fresh uuid as text.
pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The id of a row built here.
pub fn id_of(row: &Value) -> String {
    row["id"].as_str().unwrap_or_default().to_string()
}

/// A `products` row in category "beverages" with `stock` units.
pub fn product(name: &str, stock: i64) -> Value {
    let id = id();
    json!({
        "id": id,
        "sku": format!("BEV-{}", &id[..8]),
        "name": name,
        "category": "beverages",
        "price_cents": 250,
        "sale_price_cents": null,
        "stock": stock,
        "updated_at": "2025-01-31T14:05:00Z",
    })
}

/// A `customers` row.
pub fn customer(name: &str) -> Value {
    json!({
        "id": id(),
        "name": name,
        "phone": "+1 555 0100",
        "email": null,
        "notes": null,
        "updated_at": "2025-01-31T14:05:00Z",
    })
}

/// A `debts` row of `amount_cents` owed by `customer_id`.
pub fn debt(customer_id: &str, amount_cents: i64) -> Value {
    json!({
        "id": id(),
        "customer_id": customer_id,
        "amount_cents": amount_cents,
        "amount_paid_cents": 0,
        "status": "open",
        "note": null,
        "updated_at": "2025-01-31T14:05:00Z",
    })
}

/// A `debt_payments` row paying `amount_cents` of `debt_id`.
pub fn payment(debt_id: &str, amount_cents: i64) -> Value {
    json!({
        "id": id(),
        "debt_id": debt_id,
        "amount_cents": amount_cents,
        "paid_at": "2025-01-31T14:05:00Z",
    })
}

/// `row` with the columns of `changes` replaced.
pub fn with(row: &Value, changes: &Value) -> Value {
    let mut out = row.clone();
    if let (Some(o), Some(c)) = (out.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}
