import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '**/coverage/**', '**/reports/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Packages talk to each other only through their public exports, and only downhill:
      // core <- limiters <- plugins (pools, metrics) <- adapter <- harness.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:core', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:limiter', onlyDependOnLibsWithTags: ['scope:core', 'scope:tooling'] },
            { sourceTag: 'scope:plugin', onlyDependOnLibsWithTags: ['scope:core', 'scope:limiter', 'scope:tooling'] },
            { sourceTag: 'scope:adapter', onlyDependOnLibsWithTags: ['scope:core', 'scope:limiter', 'scope:plugin', 'scope:tooling'] },
            { sourceTag: 'scope:harness', onlyDependOnLibsWithTags: ['scope:core', 'scope:limiter', 'scope:plugin', 'scope:adapter', 'scope:tooling'] },
            { sourceTag: 'scope:tooling', onlyDependOnLibsWithTags: ['scope:tooling'] }
          ]
        }
      ]
    }
  }
];
