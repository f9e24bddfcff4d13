//! gateway (placeholder until its work lands)
