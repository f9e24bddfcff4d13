//! Tests of Policies (filled below).
