// Benchmark backend: single-process Node http, keep-alive. `/` answers 2 bytes, `/16k` 16 KiB;
// WebSocket connections get every message echoed back.
// Listens on 127.0.0.1:$PORT (0 = any free port) and prints `listening <port>`.
import http from 'node:http'
import { WebSocketServer } from 'ws'

const small = Buffer.from('ok')
const large = Buffer.alloc(16 * 1024, 'x')
const server = http.createServer((req, res) => {
  const body = req.url === '/16k' ? large : small
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 65_000
new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (data) => ws.send(data)))
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
