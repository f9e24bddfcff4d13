// Supabase's own Realtime client against ebb-gateway: joins the private
// channel realtime:<topic> with an access token, as a Supabase app does,
// and prints what it receives, one line each:
//   SUBSCRIBED             joined (the caller then writes on the server)
//   BROADCAST <json>       a broadcast of event "change" (ebb's nudge)
//   ERROR <what>           the join failed, timed out or the socket closed
// Run by tests/tests/realtime/supabase_js.rs with EBB_REALTIME_URL
// (ws://host:port/realtime/v1), EBB_REALTIME_KEY, EBB_REALTIME_TOPIC, and
// optionally EBB_REALTIME_TOKEN (the access token; default the key, as
// Supabase's anon key) and EBB_REALTIME_VSN (the serializer, e.g. 2.0.0).
import { RealtimeClient } from '@supabase/realtime-js'
import WebSocket from 'ws'

const url = process.env.EBB_REALTIME_URL
const key = process.env.EBB_REALTIME_KEY
const topic = process.env.EBB_REALTIME_TOPIC || 'ebb'
const token = process.env.EBB_REALTIME_TOKEN || key
const options = { params: { apikey: key }, transport: WebSocket, heartbeatIntervalMs: 5000 }
if (process.env.EBB_REALTIME_VSN) options.vsn = process.env.EBB_REALTIME_VSN

const client = new RealtimeClient(url, options)
await client.setAuth(token)

const channel = client.channel(topic, { config: { private: true } })
channel.on('broadcast', { event: 'change' }, (message) => {
  console.log('BROADCAST ' + JSON.stringify(message))
  client.disconnect()
  process.exit(0)
})
channel.subscribe((status, err) => {
  if (status === 'SUBSCRIBED') {
    console.log('SUBSCRIBED')
  } else {
    console.log('ERROR ' + status + (err ? ' ' + err.message : ''))
    process.exit(1)
  }
})
setTimeout(() => {
  console.log('ERROR no broadcast within 50s')
  process.exit(1)
}, 50000)
