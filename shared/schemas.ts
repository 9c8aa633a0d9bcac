import { z } from 'zod'
import { CHAT_PAGE, MAX_QUERY_LENGTH, MAX_SYSTEM_PROMPT_LENGTH, MAX_TITLE_LENGTH, MESSAGE_PAGE, MESSAGE_STATUSES, TEMPERATURE_RANGE } from './chat'

export * from './chat'
export * from './codes'
export * from './attachments'

export const MessageRole = z.enum(['user', 'assistant'])
export const MessageStatus = z.enum(MESSAGE_STATUSES)

export const MessageErrorSchema = z.object({ code: z.string(), message: z.string() })

export const UsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  /** Of the completion tokens, those the model spent reasoning, when its server says (docs/reasoning.md). */
  reasoningTokens: z.number().int().nonnegative().optional(),
})

/** A file attached to a question (docs/attachments.md); its bytes are at `url`, for its owner only. */
export const AttachmentSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** `image/png`, `image/jpeg`, `image/gif`, `image/webp`, or `text/plain` for any text file. */
  mediaType: z.string(),
  kind: z.enum(['image', 'text']),
  /** Bytes. */
  size: z.number().int().nonnegative(),
  url: z.string(),
})

export const MessageSchema = z.object({
  id: z.string(),
  chatId: z.string(),
  role: MessageRole,
  content: z.string(),
  /** An answer's reasoning, apart from its text (docs/reasoning.md); absent when the model showed none. */
  reasoning: z.string().optional(),
  /** How long the model thought before answering, in ms; absent while it thinks and without reasoning. */
  reasoningMs: z.number().int().nonnegative().optional(),
  status: MessageStatus,
  error: MessageErrorSchema.optional(),
  model: z.string().optional(),
  usage: UsageSchema.optional(),
  /** A question's attached files, in the order they were given; absent: none. */
  attachments: z.array(AttachmentSchema).optional(),
  createdAt: z.string(),
})

export const ChatSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** The model picked for this chat; absent: the server's default. */
  model: z.string().optional(),
  /** Instructions sent before the conversation; absent: none (or the server's FLUME_SYSTEM_PROMPT). */
  systemPrompt: z.string().optional(),
  /** Sampling temperature; absent: the model's own default. */
  temperature: z.number().optional(),
  /** In chat lists only: one of its answers is still being written. */
  streaming: z.boolean().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
})

/**
 * A chat with its messages, oldest first. Paged (`?limit`, `?before`: docs/paging.md), the newest
 * of them and `next`, the cursor of the ones before (`null`: none).
 */
export const ChatWithMessagesSchema = ChatSchema.extend({ messages: z.array(MessageSchema), next: z.string().nullable().optional() })

/** One page of the chat list (`?limit`, `?before`: docs/paging.md); `next` is the cursor of the page after it, `null` at the end. */
export const ChatPageSchema = z.object({ chats: z.array(ChatSchema), next: z.string().nullable() })

/** An opaque cursor of the chat list: where a page ends (docs/paging.md). */
export const ChatCursorSchema = z.string().regex(/^\d{1,16}\.\d{1,16}\.[\w-]{1,64}$/)
/** An opaque cursor of a chat's messages: where a page starts. */
export const MessageCursorSchema = z.string().regex(/^\d{1,10}$/)

const pageLimit = (max: number) => z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(max))

/** GET /api/chats: `q` searches; `limit` and/or `before` ask for one page (`{ chats, next }`) instead of every chat. */
export const ChatListQuery = z.object({
  q: z.string().max(MAX_QUERY_LENGTH).optional(),
  limit: pageLimit(CHAT_PAGE.max).optional(),
  before: ChatCursorSchema.optional(),
})

/** GET /api/chats/:chatId: `limit` and/or `before` ask for the newest messages (before the cursor) and `next`. */
export const ChatMessagesQuery = z.object({
  limit: pageLimit(MESSAGE_PAGE.max).optional(),
  before: MessageCursorSchema.optional(),
})

/** Ids are 22 url-safe characters from 128 random bits (server/utils/ids.ts). */
export const IdSchema = z.string().regex(/^[\w-]{10,64}$/)

export const ChatParams = z.object({ chatId: IdSchema })
export const MessageParams = z.object({ chatId: IdSchema, messageId: IdSchema })

const Title = z.string().trim().min(1).max(MAX_TITLE_LENGTH)

const ModelId = z.string().trim().min(1).max(200)
// Length is checked separately (readBodyAs) so that oversized content answers 413, not 400.
const Content = z.string()
/** Ids of uploaded files (POST /api/attachments) the question sends; their count is checked with the other limits. */
const AttachmentIds = z.array(IdSchema).max(100)

/** A question needs words, or at least one file. */
function needsContent(body: { content?: string, attachments?: string[] }, ctx: z.RefinementCtx) {
  if (body.content !== undefined && !body.content.trim() && !body.attachments?.length) {
    ctx.addIssue({ code: 'custom', path: ['content'], message: 'content must not be empty' })
  }
}

/** With `content`, the chat starts with that question and its answer (one request, one transaction). */
export const CreateChatBody = z.object({ title: Title.optional(), content: Content.optional(), model: ModelId.optional(), attachments: AttachmentIds.optional() })
  .strict()
  .superRefine(needsContent)
  .refine(body => body.model === undefined || body.content !== undefined, 'model goes with content')
  .refine(body => body.attachments === undefined || body.content !== undefined, 'attachments go with content')

/** An empty or blank system prompt means none. */
const SystemPrompt = z.string().max(MAX_SYSTEM_PROMPT_LENGTH).transform(s => (s.trim() ? s : null))
const Temperature = z.number().min(TEMPERATURE_RANGE.min).max(TEMPERATURE_RANGE.max)

/**
 * Any of the chat's settings; `null` forgets one (`model`: the server's default applies again,
 * `systemPrompt`: none, `temperature`: the model's default).
 */
export const PatchChatBody = z.object({
  title: Title.optional(),
  model: ModelId.nullable().optional(),
  systemPrompt: SystemPrompt.nullable().optional(),
  temperature: Temperature.nullable().optional(),
})
  .strict()
  .refine(body => Object.values(body).some(value => value !== undefined), 'give at least one of title, model, systemPrompt, temperature')

export const PostMessageBody = z.object({ content: Content, model: ModelId.optional(), attachments: AttachmentIds.optional() })
  .strict()
  .superRefine(needsContent)

/**
 * Edit a question and ask again: the messages after it are replaced. `attachments`: the files the
 * question has now, kept ones and new uploads alike (absent: it keeps the ones it had).
 */
export const EditMessageBody = PostMessageBody

export const PostMessageResponseSchema = z.object({
  userMessage: MessageSchema,
  assistantMessage: MessageSchema,
  streamUrl: z.string(),
})

/** A chat created with its first question: its messages and where its answer streams. */
export const CreateChatResponseSchema = ChatSchema.extend({
  messages: z.array(MessageSchema).optional(),
  streamUrl: z.string().optional(),
})

export const RetryResponseSchema = z.object({
  assistantMessage: MessageSchema,
  streamUrl: z.string(),
})

export const ModelsResponseSchema = z.object({
  models: z.array(z.object({ id: z.string() })),
  default: z.string(),
  /** Characters of conversation sent with a question; 0: all of it (docs/answer-limits.md). */
  historyChars: z.number().int().nonnegative().optional(),
  /** What a question may carry (docs/attachments.md); `kinds` empty: attachments are off. */
  attachments: z.object({
    count: z.number().int().nonnegative(),
    bytes: z.number().int().positive(),
    totalBytes: z.number().int().positive(),
    kinds: z.array(z.enum(['image', 'text'])),
  }).optional(),
})

/** The JSON payloads of the stream's `data:` lines; `[DONE]` is sent as plain text. */
export const StreamEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('delta'), text: z.string() }),
  z.object({ type: z.literal('reasoning'), text: z.string() }),
  z.object({ type: z.literal('usage'), promptTokens: z.number(), completionTokens: z.number(), reasoningTokens: z.number().optional() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
])

export type MessageRole = z.infer<typeof MessageRole>
export type MessageStatus = z.infer<typeof MessageStatus>
export type MessageError = z.infer<typeof MessageErrorSchema>
export type Usage = z.infer<typeof UsageSchema>
export type Message = z.infer<typeof MessageSchema>
export type Attachment = z.infer<typeof AttachmentSchema>
export type Chat = z.infer<typeof ChatSchema>
export type ChatWithMessages = z.infer<typeof ChatWithMessagesSchema>
export type ChatPage = z.infer<typeof ChatPageSchema>
export type PatchChatBody = z.input<typeof PatchChatBody>
export type CreateChatResponse = z.infer<typeof CreateChatResponseSchema>
export type PostMessageResponse = z.infer<typeof PostMessageResponseSchema>
export type RetryResponse = z.infer<typeof RetryResponseSchema>
export type ModelsResponse = z.infer<typeof ModelsResponseSchema>
export type StreamEvent = z.infer<typeof StreamEventSchema>
