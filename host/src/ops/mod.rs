//! ops (placeholder until its work lands)
