import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// The backend serves dist/ on :12001; `npm run dev` proxies the API to a running backend.
export default defineConfig({
  plugins: [react()],
  server: { proxy: { '/api': 'http://127.0.0.1:12001' } },
  build: { chunkSizeWarningLimit: 900 },
  test: { include: ['src/**/*.test.ts'] },
})
