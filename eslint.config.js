import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'docs/api/', 'node_modules/', 'bench/results/', 'test-results/', '.examples/'] },
  { files: ['scripts/**', 'demo/**/*.js', 'test/**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly', setTimeout: 'readonly' } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-restricted-globals': ['error', { name: 'localStorage', message: 'Tokens never go to localStorage' }, { name: 'sessionStorage', message: 'Tokens never go to sessionStorage' }],
    },
  },
  {
    files: ['test/**', 'demo/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-globals': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
)
