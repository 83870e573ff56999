import { describe, expect, it } from 'vitest'
import { ApiError, detailText, errorMessage, fieldErrors } from './errors'

describe('errors', () => {
  it('reads the fields a 422 names', () => {
    const detail = "target_map: Input should be less than or equal to 1; training_classes.0: Value error, bad"
    expect(fieldErrors(detail)).toEqual({
      target_map: 'Input should be less than or equal to 1',
      training_classes: 'Value error, bad',
    })
  })
  it('keeps the detail and code of the API', () => {
    const e = new ApiError(409, { detail: 'dataset 3 is pending', code: 'dataset_not_ready' })
    expect(e.code).toBe('dataset_not_ready')
    expect(e.detail).toBe('dataset 3 is pending')
    expect(e.fields).toEqual({})
  })
  it("reads FastAPI's list detail", () => {
    expect(detailText([{ loc: ['body', 'name'], msg: 'Field required' }])).toBe('name: Field required')
  })
  it('translates a known code and falls back to the detail', () => {
    const t = (key: string, o?: Record<string, unknown>) => (key === 'errors:forbidden' ? 'no' : String(o?.defaultValue ?? ''))
    expect(errorMessage(new ApiError(403, { detail: 'x', code: 'forbidden' }), t)).toBe('no')
    expect(errorMessage(new ApiError(400, { detail: 'the detail', code: 'other' }), t)).toBe('the detail')
  })
})
