;; A validator that imports the WASI wall clock: refused at load, even though
;; it never calls it.
(component
  (import "wasi:clocks/wall-clock@0.2.0" (instance $clock
    (type $dt (record (field "seconds" u64) (field "nanoseconds" u32)))
    (export "datetime" (type $datetime (eq $dt)))
    (export "now" (func (result $datetime)))
  ))
  (core module $M
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "validate") (param i32 i32 i32 i32) (result i32)
      (i32.store8 (i32.const 0) (i32.const 0))
      (i32.const 0))
  )
  (core instance $m (instantiate $M))
  (alias core export $m "memory" (core memory $memory))
  (type $violation (record (field "field" string) (field "message" string)))
  (func $validate (param "table" string) (param "row" string)
    (result (result (error (list $violation))))
    (canon lift (core func $m "validate") (memory $memory) (realloc (core func $m "realloc"))))
  (instance $iface
    (export "violation" (type $violation))
    (export "validate" (func $validate)))
  (export "ebb:policy/validate@0.1.0" (instance $iface))
)
