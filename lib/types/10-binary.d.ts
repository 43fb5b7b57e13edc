
/** A WhatsApp binary node, as Baileys models it. */
export interface BinaryNode {
  tag: string
  attrs: { [key: string]: string }
  content?: BinaryNode[] | string | Uint8Array
}

/** Encodes a node as a frame: flag byte 0, then the node (Baileys' `encodeBinaryNode`). Throws an
 * Error with `code` `ERR_WA_BINARY_*` for a node that cannot be encoded. */
export declare function encodeBinaryNode(node: BinaryNode): Buffer
/** Decodes a frame (flag byte; zlib when bit 2 is set). Rejects with an Error whose `code` is
 * `ERR_WA_BINARY_*` on malformed input. */
export declare function decodeBinaryNode(buffer: Uint8Array): Promise<BinaryNode>
/** Synchronous {@link decodeBinaryNode}; throws instead of rejecting. */
export declare function decodeBinaryNodeSync(buffer: Uint8Array): BinaryNode
export declare function binaryNodeToString(node: BinaryNode | BinaryNode['content'], i?: number): string | undefined
export declare function getBinaryNodeChild(node: BinaryNode | undefined, childTag: string): BinaryNode | undefined
export declare function getBinaryNodeChildren(node: BinaryNode | undefined, childTag: string): BinaryNode[]
export declare function getAllBinaryNodeChildren(node: BinaryNode): BinaryNode[]
export declare function getBinaryNodeChildString(node: BinaryNode | undefined, childTag: string): string | undefined
export declare function getBinaryNodeChildBuffer(node: BinaryNode | undefined, childTag: string): Uint8Array | undefined
export declare function getBinaryNodeChildUInt(node: BinaryNode, childTag: string, length: number): number | undefined
export declare function reduceBinaryNodeToDictionary(node: BinaryNode, tag: string): { [_: string]: string }
/** Throws a Boom-shaped Error (`output.statusCode`, `data` = the error code) if the node has an
 * `<error>` child. */
export declare function assertNodeErrorFree(node: BinaryNode): void

export type JidServer = 'c.us' | 'g.us' | 'broadcast' | 's.whatsapp.net' | 'call' | 'lid' | 'newsletter' | 'bot' | 'hosted' | 'hosted.lid'
export declare enum WAJIDDomains {
  WHATSAPP = 0,
  LID = 1,
  HOSTED = 128,
  HOSTED_LID = 129,
}
export interface FullJid {
  server: JidServer
  user: string
  domainType?: number
  device?: number
}
export declare const S_WHATSAPP_NET: '@s.whatsapp.net'
export declare const OFFICIAL_BIZ_JID: '16505361212@c.us'
export declare const SERVER_JID: 'server@c.us'
export declare const PSA_WID: '0@c.us'
export declare const STORIES_JID: 'status@broadcast'
export declare const META_AI_JID: '13135550002@c.us'
export declare function getServerFromDomainType(initialServer: string, domainType?: WAJIDDomains): JidServer
export declare function jidEncode(user: string | number | null, server: JidServer, device?: number, agent?: number): string
export declare function jidDecode(jid: string | undefined): FullJid | undefined
export declare function areJidsSameUser(jid1: string | undefined, jid2: string | undefined): boolean
export declare function isJidMetaAI(jid: string | undefined): boolean | undefined
export declare function isPnUser(jid: string | undefined): boolean | undefined
export declare function isLidUser(jid: string | undefined): boolean | undefined
export declare function isJidBroadcast(jid: string | undefined): boolean | undefined
export declare function isJidGroup(jid: string | undefined): boolean | undefined
export declare function isJidStatusBroadcast(jid: string): boolean
export declare function isJidNewsletter(jid: string | undefined): boolean | undefined
export declare function isHostedPnUser(jid: string | undefined): boolean | undefined
export declare function isHostedLidUser(jid: string | undefined): boolean | undefined
export declare function isJidBot(jid: string | undefined): boolean | '' | undefined
export declare function jidNormalizedUser(jid: string | undefined): string
export declare function transferDevice(fromJid: string, toJid: string): string
