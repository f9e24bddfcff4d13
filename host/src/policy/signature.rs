//! Load-time check that a plugin's exported function has the WIT type the
//! host calls, so a mismatched plugin is refused at load (by `ebb check`)
//! rather than failing on every call.
//!
//! Renders component-model types as WIT-like text and compares them with
//! the expected signatures of `ebb:policy@0.1.0`. Called only by `plugin.rs`.

use wasmtime::Engine;
use wasmtime::component::types::{Component, ComponentItem, Type};

/// `validate: func(table: string, row: string) -> result<_, list<violation>>`.
pub const VALIDATE: &str =
    "func(string, string) -> result<_, list<record{field: string, message: string}>>";
/// `resolve: func(table, local, remote: string, base: option<string>) -> result<resolution, string>`.
pub const RESOLVE: &str = "func(string, string, string, option<string>) -> \
     result<variant{take-local, take-remote, merged(string), manual(string)}, string>";

/// Checks that `component` exports `interface` with a function `func` of
/// type `expected`; `Err` says what it found instead.
pub fn check(
    engine: &Engine,
    component: &Component,
    interface: &str,
    func: &str,
    expected: &str,
) -> Result<(), String> {
    let Some(export) = component.get_export(engine, interface) else {
        return Err(format!("{interface} is not exported"));
    };
    let ComponentItem::ComponentInstance(instance) = export.ty else {
        return Err(format!("{interface} is not an instance"));
    };
    let Some(item) = instance.get_export(engine, func) else {
        return Err(format!("{interface} has no function `{func}`"));
    };
    let ComponentItem::ComponentFunc(f) = item.ty else {
        return Err(format!("{interface}: `{func}` is not a function"));
    };
    let params: Vec<String> = f.params().map(|(_, ty)| render(&ty)).collect();
    let results: Vec<String> = f.results().map(|ty| render(&ty)).collect();
    let found = match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
    };
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "{interface}: `{func}` has type {found}, expected {expected}"
        ))
    }
}

/// WIT-like text of a type (records and variants spelled out structurally).
fn render(ty: &Type) -> String {
    let opt = |t: Option<Type>| t.map_or("_".to_string(), |t| render(&t));
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", render(&list.ty())),
        Type::Record(record) => {
            let fields: Vec<String> = record
                .fields()
                .map(|f| format!("{}: {}", f.name, render(&f.ty)))
                .collect();
            format!("record{{{}}}", fields.join(", "))
        }
        Type::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, render(&t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant{{{}}}", cases.join(", "))
        }
        Type::Option(option) => format!("option<{}>", render(&option.ty())),
        Type::Result(result) => format!("result<{}, {}>", opt(result.ok()), opt(result.err())),
        Type::Enum(e) => format!("enum{{{}}}", e.names().collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}
