;; A well-behaved validator: a row whose JSON text contains '-' (a negative
;; number) is invalid, with one violation on "price". Logs one line.
(component
  (import "ebb:policy/host@0.1.0" (instance $host
    (type $l (enum "debug" "info" "warn" "error"))
    (export "level" (type $level (eq $l)))
    (export "log" (func (param "level" $level) (param "message" string)))
  ))

  (core module $Mem
    (memory (export "memory") 1)
  )
  (core instance $mem (instantiate $Mem))
  (alias core export $mem "memory" (core memory $memory))
  (core func $log (canon lower (func $host "log") (memory $memory)))

  (core module $Main
    (import "env" "memory" (memory 1))
    (import "host" "log" (func $log (param i32 i32 i32)))
    (global $next (mut i32) (i32.const 1024))
    (data (i32.const 16) "checked")
    (data (i32.const 32) "price")
    (data (i32.const 48) "must not be negative")
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      ;; align up
      (local.set $p (i32.and
        (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "validate") (param $tp i32) (param $tl i32) (param $rp i32) (param $rl i32) (result i32)
      (local $i i32)
      (local $ret i32)
      (local $v i32)
      (call $log (i32.const 1) (i32.const 16) (i32.const 7))
      (local.set $ret (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 12)))
      (i32.store8 (local.get $ret) (i32.const 0))
      (block $done
        (loop $scan
          (br_if $done (i32.ge_u (local.get $i) (local.get $rl)))
          (if (i32.eq (i32.load8_u (i32.add (local.get $rp) (local.get $i))) (i32.const 45))
            (then
              (local.set $v (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16)))
              (i32.store (local.get $v) (i32.const 32))
              (i32.store offset=4 (local.get $v) (i32.const 5))
              (i32.store offset=8 (local.get $v) (i32.const 48))
              (i32.store offset=12 (local.get $v) (i32.const 20))
              (i32.store8 (local.get $ret) (i32.const 1))
              (i32.store offset=4 (local.get $ret) (local.get $v))
              (i32.store offset=8 (local.get $ret) (i32.const 1))
              (br $done)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan)))
      (local.get $ret))
  )
  (core instance $env (export "memory" (memory $memory)))
  (core instance $hostfns (export "log" (func $log)))
  (core instance $main (instantiate $Main
    (with "env" (instance $env))
    (with "host" (instance $hostfns))))

  (type $violation (record (field "field" string) (field "message" string)))
  (func $validate (param "table" string) (param "row" string) (result (result (error (list $violation))))
    (canon lift (core func $main "validate") (memory $memory) (realloc (core func $main "realloc"))))
  (instance $iface
    (export "violation" (type $violation))
    (export "validate" (func $validate)))
  (export "ebb:policy/validate@0.1.0" (instance $iface))
)
