import { cutAtWord } from '#shared/titles'
import type { TitleSource } from '../storage/store'
import type { AnswerFinished } from './registry'

const MAX_GENERATED_TITLE = 60
const TITLE_TIMEOUT_MS = 8000

const TITLE_PROMPT = 'You name conversations. Reply with a title of at most 6 words for the conversation below, '
  + 'in the language of the person\'s message. No quotes, no final punctuation, nothing else.'

/** Titles are on unless FLUME_TITLES is `off`, `false` or `0` (each one is one more upstream call). */
export function titlesEnabled(): boolean {
  return !/^(?:off|false|0|no)$/i.test(process.env.FLUME_TITLES ?? '')
}

/** A model's answer made into a title: one line, no quotes, markup or final punctuation, 60 characters at most. */
export function cleanTitle(raw: string): string {
  let title = raw.trim().split('\n').find(l => l.trim())?.trim() ?? ''
  title = title.replace(/^(?:title)\s*:\s*/i, '')
    .replace(/[*_#`]/g, '')
    .replace(/^["'“”‘’«»\s]+|["'“”‘’«»\s]+$/g, '')
    .replace(/[.,;:!?。…\s]+$/u, '')
    .replace(/\s+/g, ' ')
    .trim()
  return cutAtWord(title, MAX_GENERATED_TITLE).replace(/[.,;:!?\s]+$/u, '')
}

interface FirstExchange { title: string, source: TitleSource, firstUser: string | null, firstAnswerId: string | null }

async function firstExchange(owner: string, chatId: string): Promise<FirstExchange | undefined> {
  const db = await useDb()
  const chat = await db.prepare('SELECT title, title_source FROM chats WHERE id = ? AND owner = ?')
    .get(chatId, owner) as { title: string, title_source: TitleSource } | undefined
  if (!chat) return undefined
  const first = async (role: string) => await db.prepare(`SELECT id, content FROM messages
    WHERE chat_id = ? AND owner = ? AND role = ? ORDER BY position LIMIT 1`).get(chatId, owner, role) as { id: string, content: string } | undefined
  const [user, answer] = [await first('user'), await first('assistant')]
  return { title: chat.title, source: chat.title_source ?? null, firstUser: user?.content ?? null, firstAnswerId: answer?.id ?? null }
}

/**
 * Gives a chat a generated title after its first answer, while its title is still the one derived
 * from its first question (`title_source` NULL): never over one the person chose or one generated before.
 * On the demo model, or when the model fails or is slow, the chat keeps the title cut from its
 * first message. Never throws; `updated_at` is left alone (a title is not activity).
 */
export async function generateTitle(event: AnswerFinished, log: Pick<Console, 'warn'> = console): Promise<string | undefined> {
  if (event.final.status !== 'done' || !event.content.trim()) return
  if (useFlumeConfig().demo || event.model === DEMO_MODEL) return
  try {
    const found = await firstExchange(event.owner, event.chatId)
    if (!found || found.firstAnswerId !== event.messageId || found.firstUser === null) return
    if (found.source !== null) return

    const client = useOpenAI()
    const completion = await client.chat.completions.create({
      model: event.model,
      messages: [
        { role: 'system', content: TITLE_PROMPT },
        { role: 'user', content: `Person: ${found.firstUser.slice(0, 2000)}\n\nAssistant: ${event.content.slice(0, 2000)}` },
      ],
      ...answerCap(client, 16),
      stream: false,
    }, { timeout: TITLE_TIMEOUT_MS, maxRetries: 0 })
    const title = cleanTitle(completion.choices[0]?.message?.content ?? '')
    if (!title) return

    const db = await useDb()
    // Only over the derived title read above: a rename or a newer question that landed meanwhile wins.
    await db.prepare(`UPDATE chats SET title = ?, title_source = 'generated' WHERE id = ? AND owner = ? AND title_source IS NULL AND title = ?`)
      .run(title, event.chatId, event.owner, found.title)
    return title
  }
  catch (error) {
    log.warn(`[flume] no title for chat ${event.chatId}; it keeps its first words:`, (error as Error)?.message ?? error)
  }
}
