;; A well-behaved resolver: manual("no base") without a base, take-remote
;; when the local row is deleted, take-local when the local text is longer,
;; else merged(local row).
(component
  ;; As wit-component emits it: the type-only interface the exports use.
  (import "ebb:policy/types@0.1.0" (instance $types
    (type $r (variant
      (case "take-local")
      (case "take-remote")
      (case "merged" string)
      (case "manual" string)))
    (export "resolution" (type (eq $r)))
  ))
  (core module $M
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (data (i32.const 64) "no base")
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (local.get $p) (i32.add (local.get 3) (i32.const 8))))
      (local.get $p))
    (func (export "resolve")
      (param $tp i32) (param $tl i32) (param $lp i32) (param $ll i32)
      (param $rp i32) (param $rl i32) (param $bd i32) (param $bp i32) (param $bl i32)
      (result i32)
      (i32.store8 (i32.const 0) (i32.const 0))
      (if (i32.eqz (local.get $bd))
        (then
          (i32.store8 (i32.const 4) (i32.const 3))
          (i32.store (i32.const 8) (i32.const 64))
          (i32.store (i32.const 12) (i32.const 7))
          (return (i32.const 0))))
      (if (i32.eq (i32.load8_u (local.get $lp)) (i32.const 110))
        (then
          (i32.store8 (i32.const 4) (i32.const 1))
          (return (i32.const 0))))
      (if (i32.gt_u (local.get $ll) (local.get $rl))
        (then
          (i32.store8 (i32.const 4) (i32.const 0))
          (return (i32.const 0))))
      (i32.store8 (i32.const 4) (i32.const 2))
      (i32.store (i32.const 8) (local.get $lp))
      (i32.store (i32.const 12) (local.get $ll))
      (i32.const 0))
  )
  (core instance $m (instantiate $M))
  (alias core export $m "memory" (core memory $memory))
  (type $resolution (variant
    (case "take-local")
    (case "take-remote")
    (case "merged" string)
    (case "manual" string)))
  (func $resolve
    (param "table" string) (param "local" string) (param "remote" string)
    (param "base" (option string))
    (result (result $resolution (error string)))
    (canon lift (core func $m "resolve") (memory $memory) (realloc (core func $m "realloc"))))
  (instance $iface
    (export "resolution" (type $resolution))
    (export "resolve" (func $resolve)))
  (export "ebb:policy/resolve@0.1.0" (instance $iface))
)
