// Bundled executor plugins are compiled with the rest of src/ into dist/plugins/<name>/;
// their package.json (which oclif reads to find their hooks) is copied next to the compiled code.
import {copyFileSync, existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

// The test doubles (src/test-doubles/<name>, e.g. memory) are plugins too, never bundled: tests link them.
for (const dir of ['plugins', 'test-doubles']) {
  for (const name of readdirSync(join('src', dir))) {
    const pjson = join('src', dir, name, 'package.json')
    if (!existsSync(pjson)) continue
    copyFileSync(pjson, join('dist', dir, name, 'package.json'))
  }
}
