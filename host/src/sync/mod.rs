//! sync (placeholder until its work lands)
