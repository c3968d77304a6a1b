import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  plugins: [svelte()],
  clearScreen: false,
  build: { outDir: 'dist', emptyOutDir: true, target: 'safari15' },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    root,
    include: ['src/**/*.test.ts'],
    environment: 'jsdom',
  },
});
