// A tiny Node web app for the Portico examples: a page that says which instance served it.
import http from 'node:http'

const port = Number(process.env.PORT)
const instance = `${process.env.PORTICO_APP ?? 'web'}#${process.env.PORTICO_INSTANCE ?? '0'}`
let served = 0

const server = http.createServer((req, res) => {
  served++
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Instance-Id': instance })
    res.end('ok\n')
    return
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'X-Instance-Id': instance })
  res.end(`<!doctype html><title>web</title>
<h1>Hello from ${instance}</h1>
<p>pid ${process.pid}, port ${port}, request #${served} to this instance.</p>
<p>Forwarded for ${req.headers['x-forwarded-for']} via ${req.headers['x-forwarded-proto']}://${req.headers['x-forwarded-host']}</p>
`)
})

server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
