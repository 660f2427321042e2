// The example apps that `npm run dev` serves:
//   https://web.localhost:8443  — a Node app, two instances
//   https://api.localhost:8443  — a Python app (standard library only)
// A config needs no import: a plain default-exported object is enough. Wrap it in
// `defineConfig` from './src/config/schema.ts' if you want your editor to type-check it.
export default {
  apps: [
    {
      name: 'web',
      script: 'examples/web/server.js',
      instances: 2,
    },
    {
      name: 'api',
      // `exec` makes python the instance process itself, so its pid is the app's.
      command: 'exec python3 examples/api/app.py',
      health: { path: '/health' },
    },
  ],
}
