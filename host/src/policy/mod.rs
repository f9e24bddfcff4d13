//! policy (placeholder until its work lands)
