import { IMAGE_MAX_SIDE } from '#shared/attachments'

/** An image within IMAGE_MAX_SIDE and at most this many bytes goes up as it is (re-encoding would only lose detail). */
export const KEEP_IMAGE_BYTES = 2 * 1024 * 1024
const JPEG_QUALITY = 0.85
/** Taken by the server as they are (docs/attachments.md); other decodable images (BMP, AVIF, HEIC) are re-encoded. */
const KEPT_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp'])

/** Whether the browser says `file` is a raster image it can show as a preview (not SVG: a document, read as text). */
export function isPreviewableImage(file: Blob): boolean {
  return file.type.startsWith('image/') && file.type !== 'image/svg+xml'
}

type Canvas = OffscreenCanvas | HTMLCanvasElement

function canvasOf(width: number, height: number): Canvas {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(width, height)
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  return canvas
}

async function encode(canvas: Canvas, type: string): Promise<Blob> {
  if ('convertToBlob' in canvas) return await canvas.convertToBlob({ type, quality: JPEG_QUALITY })
  return await new Promise<Blob>((resolve, reject) => canvas.toBlob(b => (b ? resolve(b) : reject(new Error('encoding failed'))), type, JPEG_QUALITY))
}

function hasTransparency(context: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D, width: number, height: number): boolean {
  const { data } = context.getImageData(0, 0, width, height)
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 255) return true
  }
  return false
}

function renamed(name: string, type: string): string {
  const ext = type === 'image/png' ? '.png' : '.jpg'
  const dot = name.lastIndexOf('.')
  return (dot > 0 ? name.slice(0, dot) : name) + ext
}

/**
 * The image as it is uploaded: its longest side at most `maxSide` px, re-encoded as JPEG (PNG when
 * it has transparency). GIFs (maybe animated), SVGs, small enough images and anything the browser
 * cannot decode are returned unchanged: the server decides what they are.
 */
export async function downscaleImage(file: File, maxSide = IMAGE_MAX_SIDE): Promise<File> {
  if (!isPreviewableImage(file) || file.type === 'image/gif' || typeof createImageBitmap !== 'function') return file
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' })
  }
  catch {
    return file
  }
  try {
    const longest = Math.max(bitmap.width, bitmap.height)
    const fits = longest <= maxSide
    if (fits && file.size <= KEEP_IMAGE_BYTES && KEPT_TYPES.has(file.type)) return file
    const scale = Math.min(1, maxSide / longest)
    const width = Math.max(1, Math.round(bitmap.width * scale))
    const height = Math.max(1, Math.round(bitmap.height * scale))
    const canvas = canvasOf(width, height)
    const context = canvas.getContext('2d') as OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null
    if (!context) return file
    context.imageSmoothingQuality = 'high'
    context.drawImage(bitmap, 0, 0, width, height)
    // JPEG has no alpha channel: only images that may have one are looked at.
    const type = file.type !== 'image/jpeg' && hasTransparency(context, width, height) ? 'image/png' : 'image/jpeg'
    const blob = await encode(canvas, type)
    // Re-encoding a small image can make it larger (a flat PNG screenshot): then the original is better.
    if (fits && KEPT_TYPES.has(file.type) && blob.size >= file.size) return file
    return new File([blob], renamed(file.name, blob.type || type), { type: blob.type || type, lastModified: file.lastModified })
  }
  catch {
    return file
  }
  finally {
    bitmap.close()
  }
}
