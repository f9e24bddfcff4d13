;; Exports ebb:policy/validate@0.1.0, but its `validate` takes one string
;; instead of two: it does not link.
(component
  (core module $M
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "validate") (param i32 i32) (result i32)
      (i32.store8 (i32.const 0) (i32.const 0))
      (i32.const 0))
  )
  (core instance $m (instantiate $M))
  (alias core export $m "memory" (core memory $memory))
  (type $violation (record (field "field" string) (field "message" string)))
  (func $validate (param "row" string)
    (result (result (error (list $violation))))
    (canon lift (core func $m "validate") (memory $memory) (realloc (core func $m "realloc"))))
  (instance $iface
    (export "violation" (type $violation))
    (export "validate" (func $validate)))
  (export "ebb:policy/validate@0.1.0" (instance $iface))
)
