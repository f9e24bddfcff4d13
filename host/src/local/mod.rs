//! local (placeholder until its work lands)
