// Bundled executor plugins are compiled with the rest of src/ into dist/plugins/<name>/;
// their package.json (which oclif reads to find their hooks) is copied next to the compiled code.
import {copyFileSync, existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

const src = 'src/plugins'
for (const name of readdirSync(src)) {
  const pjson = join(src, name, 'package.json')
  if (!existsSync(pjson)) continue
  copyFileSync(pjson, join('dist/plugins', name, 'package.json'))
}
