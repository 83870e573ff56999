import { describe, expect, it } from 'vitest'
import { ApiError, detailText, errorMessage, fieldErrors } from './errors'

describe('errors', () => {
  it("reads the fields a 422 names from each problem's loc", () => {
    const body = {
      detail: 'target_map: Input should be less than or equal to 1; training_classes.0: Value error, bad',
      code: 'invalid_request',
      errors: [
        { loc: ['body', 'target_map'], msg: 'Input should be less than or equal to 1' },
        { loc: ['body', 'training_classes', 0], msg: 'Value error, bad' },
        { loc: ['body', 'training_classes', 1], msg: 'a second problem of the same field' },
        { loc: ['query', 'limit'], msg: 'too big' },
        { loc: ['body', 'path'], msg: 'a field named like a location' },
        { loc: ['body'], msg: 'a whole-body problem names no field' },
      ],
    }
    expect(new ApiError(422, body).fields).toEqual({
      target_map: 'Input should be less than or equal to 1',
      training_classes: 'Value error, bad',
      limit: 'too big',
      path: 'a field named like a location',
    })
  })
  it('never guesses fields from the text of the detail', () => {
    // a message with a colon in it is no field name
    expect(fieldErrors({ detail: 'note: the dataset is pending', code: 'invalid_request' })).toEqual({})
  })
  it("reads FastAPI's own list detail too", () => {
    expect(fieldErrors({ detail: [{ loc: ['body', 'name'], msg: 'Field required' }] })).toEqual({ name: 'Field required' })
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
