;; A validator built against a later interface version.
(component
  (core module $M
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (local.get $p) (i32.add (local.get 3) (i32.const 8))))
      (local.get $p))

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
  (export "ebb:policy/validate@0.2.0" (instance $iface))
)
