// Independent Parquet readers and writers for Sluice's tests:
//   node parquet_check.mjs read FILE        rows read by hyparquet (with
//                                           hyparquet-compressors), as JSON
//   node parquet_check.mjs schema FILE      hyparquet's view of the schema
//   node parquet_check.mjs stats FILE       each row group's column statistics
//   node parquet_check.mjs write-hw OUT     a file written by hyparquet-writer
//   node parquet_check.mjs write-pjs OUT    a file written by @dsnp/parquetjs
// Values print as JSON: BigInt as a decimal string, Date as an ISO string,
// bytes as base64.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { parquetWriteBuffer } from 'hyparquet-writer'

const require = createRequire(import.meta.url)
const [mode, path] = process.argv.slice(2)

function plain(v) {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.toISOString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (Array.isArray(v)) return v.map(plain)
  if (v && typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) o[k] = plain(x)
    return o
  }
  return v
}

// What both writers write: the same rows.
const ROWS = Array.from({ length: 300 }, (_, i) => ({
  id: i,
  big: BigInt(i) * 10000000000n,
  name: i % 9 === 4 ? null : `row-${i % 17}`,
  score: i * 0.5,
  ok: i % 3 === 0,
  at: new Date(Date.UTC(2024, 0, 1) + i * 1000),
}))

if (mode === 'stats') {
  const buf = readFileSync(path)
  const md = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
  console.log(JSON.stringify(md.row_groups.map(g => g.columns.map(c => plain(c.meta_data.statistics)))))
} else if (mode === 'read' || mode === 'schema') {
  const buf = readFileSync(path)
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
  if (mode === 'schema') {
    const md = parquetMetadata(file)
    const tree = parquetSchema(md)
    console.log(JSON.stringify({
      rows: Number(md.num_rows),
      columns: tree.children.map(c => plain(c.element)),
    }))
  } else {
    const rows = await parquetReadObjects({ file, compressors, utf8: true })
    console.log(JSON.stringify(plain(rows)))
  }
} else if (mode === 'write-hw') {
  const col = (name, type, f) => ({ name, type, data: ROWS.map(f) })
  const buf = parquetWriteBuffer({
    columnData: [
      col('id', 'INT32', r => r.id),
      col('big', 'INT64', r => r.big),
      col('name', 'STRING', r => r.name),
      col('score', 'DOUBLE', r => r.score),
      col('ok', 'BOOLEAN', r => r.ok),
      col('at', 'TIMESTAMP', r => r.at),
    ],
    rowGroupSize: 128,
  })
  writeFileSync(path, Buffer.from(buf))
} else if (mode === 'write-pjs') {
  const { ParquetSchema, ParquetWriter } = require('@dsnp/parquetjs')
  const schema = new ParquetSchema({
    id: { type: 'INT32' },
    big: { type: 'INT64' },
    name: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    score: { type: 'DOUBLE', compression: 'GZIP' },
    ok: { type: 'BOOLEAN' },
    at: { type: 'TIMESTAMP_MILLIS' },
  })
  const w = await ParquetWriter.openFile(schema, path, { rowGroupSize: 100, pageSize: 50 })
  for (const r of ROWS) {
    const row = { ...r }
    if (row.name === null) delete row.name
    await w.appendRow(row)
  }
  await w.close()
} else {
  console.error('usage: node parquet_check.mjs read|schema|write-hw|write-pjs FILE')
  process.exit(2)
}
